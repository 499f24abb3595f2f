"""The pipeline: the whole job (train, sweep, best, convert, bench, MCU, report), above every stage."""
