"""Every report a person reads, rendered in one place: the bench, the MCU run and the pipeline's report.md."""
