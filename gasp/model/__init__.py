"""The model's parts, in the order data flows through them: head/ (the head mesh model: shape,
expression, pose -> vertices), gaussians.py (the per-Gaussian attribute layout and its binding to
the posed triangles), render/ (the rasterizer), splat.py (bind + rasterize: the one renderer of
bound Gaussians), prior.py (GaspPrior: A = C + D(f, z)) and fitted_avatar.py (a fitted Avatar:
its .npz format, Motion, the optional OffsetMLP)."""
