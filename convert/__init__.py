"""Convert stage: Keras -> TFLite (float32, float16, dynamic, int8), C arrays for firmware, inspection."""
