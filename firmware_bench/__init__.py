"""firmware_bench: Keras vs TFLite vs int8 on this machine or a device, the int8 C engine on emulated Cortex-M
boards, and every report.

Runs where only numpy and a TFLite runtime are installed (a Raspberry Pi): nothing here imports TensorFlow at
module import time. Its public face: what the pipeline may import (`from lenet_deploy.firmware_bench import ...`).
"""

from lenet_deploy.api import public_api

__getattr__, __all__ = public_api(__name__, {
    **{name: "bench" for name in ("BenchOptions", "check_variants", "failed_variants", "run_bench", "variants_for")},
    "write_report": "report.bench", "label": "report.bench",
    "write_pipeline_report": "report.pipeline",
    "export_testset": "testdata",
    "McuOptions": "mcu.bench", "run_mcu_bench": "mcu.bench",
    "trial_cost": "mcu.cost",
})
