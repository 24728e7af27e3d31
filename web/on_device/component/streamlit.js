// The Streamlit component protocol (what streamlit-component-lib does), by hand: no bundler needed.

const listeners = [];

function post(type, data = {}) {
  if (window.parent !== window) window.parent.postMessage({ isStreamlitMessage: true, type, ...data }, "*");
}

export const inStreamlit = window.parent !== window;

export function onRender(listener) {
  listeners.push(listener);
}

export function ready() {
  window.addEventListener("message", (event) => {
    if (event.data && event.data.type === "streamlit:render") for (const l of listeners) l(event.data.args || {});
  });
  post("streamlit:componentReady", { apiVersion: 1 });
}

export function setFrameHeight(height = document.documentElement.scrollHeight) {
  post("streamlit:setFrameHeight", { height });
}

export function setComponentValue(value) {
  post("streamlit:setComponentValue", { value, dataType: "json" });
}
