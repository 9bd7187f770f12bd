"""opcast.models: models: TinyTimeMixer (TTM-R1) and PatchTSMixer, one definition run on host, mock device and Wormhole."""
