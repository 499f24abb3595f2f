"""Convert stage: Keras -> TFLite (float32, float16, dynamic, int8), C arrays for firmware, inspection, and the
int8 C engine generator.

Its public face: what the pipeline and firmware_bench may import (`from lenet_deploy.convert import ...`); the
generator's part is `codegen.py`.
"""

from lenet_deploy.api import public_api

__getattr__, __all__ = public_api(__name__, {
    "ConvertOptions": "run", "convert_model": "run",
    **{name: "codegen" for name in ("Engine", "Graph", "HostEngine", "LayerCost", "build_engine", "host_compiler",
                                    "int8_flatbuffer", "read_graph", "read_graph_file", "representative_images",
                                    "write_engine", "write_model_source")},
})
