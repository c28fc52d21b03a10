"""Synthetic call participants for load, soak and network tests: real WebRTC, no codec."""
