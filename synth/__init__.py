"""Synthetic face data: seeded samplers (numpy), procedural appearance and hair, the BlenderProc
scene and render. The only package that may import bpy/blenderproc."""
