# The report's description page: its headline numbers, read from the result tables.


rule report_headline:
    input:
        tables=report_headline_inputs(config),
        code=script_code("report_headline"),
    output:
        "results/report/headline.rst",
    log:
        "results/logs/report_headline.log",
    benchmark:
        "results/benchmarks/report_headline.tsv"
    localrule: True
    conda:
        "../../envs/train.yaml"
    threads: 1
    params:
        tables=report_headline_tables(config),
    script:
        "../../scripts/report_headline.py"
