"""Interactive web viewer for fitted avatars (`gasp view`).

bundle.py turns an Avatar + Motion into the page's data files; page.py writes the page folder
(static/ + data); server.py serves that folder on 127.0.0.1; browser.py drives headless Chromium
over the DevTools protocol (tests, README screenshot).

Renderer: Spark (@sparkjsdev/spark 2.2.0, MIT, on three.js 0.180), vendored under static/vendor/.
Chosen over gsplat.js (1.2.9, 153 KB, no dependencies) because the avatar must move: Spark takes
per-splat updates (ExtSplats.setSplat with float32 centres and float16 scales, then a texture
upload) and its shader exposes gsplat's "classic" splatting parameters (0.3 px^2 pre-blur, 3 sigma,
depth sort), so the page can match the project's own renderer; gsplat.js has less animation
support. The price is download size (2.9 MB of renderer + 0.7 MB of three.js, fetched once, from
the page's own folder).
"""
