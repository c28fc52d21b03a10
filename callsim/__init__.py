"""``focalcall sim``: a call's whole media path offline, on a simulated clock."""
