# Mood Lens: the Streamlit app with the shipped model, CPU only.
#   docker build -t mood-lens .
#   docker run --rm -p 8501:8501 mood-lens        # upload page; see docs/deployment.md for the live webcam (WebRTC)

# The on-device live mode's browser runtimes (OpenCV.js, LiteRT.js): npm packages at the versions locked in
# web/on_device/package-lock.json, fetched in a build stage, so Node.js is not in the image.
FROM node:20-slim AS web
WORKDIR /web/on_device
COPY web/on_device/package.json web/on_device/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=3 \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

WORKDIR /app

# Dependencies first, so code changes do not reinstall them. requirements.txt pins opencv-python-headless
# (no GUI libraries needed in the image) and the CPU build of TensorFlow.
COPY requirements.txt ./
RUN pip install -r requirements.txt \
    && python -c "import cv2; assert hasattr(cv2, 'CascadeClassifier'), 'need OpenCV 4.x with Haar cascades'"

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app

COPY .streamlit/ .streamlit/
COPY fer_core/ fer_core/
COPY content/ content/
COPY models/ models/
COPY app_pages/ app_pages/
COPY app.py ./
# The on-device component: its files, and the vendor folder built from the npm packages, the cascades and the
# shipped model (bound by SHA-256); node_modules is dropped once copied.
COPY web/ web/
COPY --from=web /web/on_device/node_modules/ web/on_device/node_modules/
RUN python -m fer_core.sessions.on_device.build --skip-npm && rm -rf web/on_device/node_modules \
    && python -c "import fer_core, fer_core.sessions.app_support, fer_core.sessions.live"

USER app
EXPOSE 8501

# python:3.11-slim has no curl: check Streamlit's health endpoint with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4); sys.exit(0 if r.read().strip() == b'ok' else 1)"]

CMD ["streamlit", "run", "app.py", "--server.address", "0.0.0.0", "--server.port", "8501", "--server.headless", "true"]
