"""The recognition pipeline: from an image to faces with emotion probabilities.

It owns everything between pixels and a :class:`~fer_core.recognition.results.FaceResult`: reading and limiting
image input (``image_io``, ``image_input``), Haar face detection (``detector``) and tracking between detections
(``tracking``), a stream's readings between frames (``stream_readings``), the shared face preprocessing
(``preprocessing``), the classifier with its runtimes and views (``classifier``, ``runtimes``, ``views``,
``quantized_model``, ``batch_norm_folding``), the recognizer that ties them
together (``recognizer``), the result type and drawing the overlay (``results``, ``drawing``). Nothing here knows
about Streamlit, moods or content; TensorFlow is imported only when a model is loaded.
"""
