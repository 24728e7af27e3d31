"""On-device live mode: the browser detects and classifies faces itself, and only the results reach the server.

- ``params``: the pipeline's parameters (detector, tracker, crop, views), taken from the Python config objects,
  so the browser runs what ``fer_core`` runs;
- ``tflite_shapes``: where the shipped ``.tflite`` file declares a dynamic batch dimension (LiteRT.js needs a
  fixed one; the browser sets it to 1 in memory, the file stays byte-for-byte the shipped one);
- ``manifest``: the build manifest (files and their SHA-256, parameters) and the check that a build matches the
  shipped model, cascades and configuration;
- ``build``: ``python -m fer_core.sessions.on_device.build`` (``npm ci``, then copy the runtimes, cascades,
  model, licences and manifest into the component's git-ignored ``vendor/`` folder);
- ``results``: parsing and validating the result batches the browser sends;
- ``component``: the Streamlit component and the live page's on-device player.

The component's static files are in ``web/on_device/component/``.
"""
