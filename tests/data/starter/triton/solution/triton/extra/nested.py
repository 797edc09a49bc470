# nested files are not packed (flashinfer-bench packs the top level only)
