"""WebRTC pieces that the server and the Python clients share: adjustments to aiortc."""
