"""firmware_bench: Keras vs TFLite vs int8 on this machine, reports, and the one-command pipeline.

Runs where only numpy and a TFLite runtime are installed (a Raspberry Pi): nothing here
imports TensorFlow at module import time.
"""
