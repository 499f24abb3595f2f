"""Train stage: the LeNet family, fitting one config, sweeps. Host only (imports TensorFlow lazily)."""
