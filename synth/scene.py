"""The BlenderProc scene of one subject and its Cycles render (imports bpy: only render processes).

Geometry changes per view (expression, jaw, neck, head pose), so every mesh part carries one shape
key per view, keyed to its frame; cameras are keyed per frame too, and one `bproc.renderer.render()`
call renders all views. The stored K and world-to-camera are read back from Blender's camera at
each frame and converted once (synth.cameras.blender_to_opencv_w2c).
"""
from __future__ import annotations

import numpy as np

from synth.assets import MaterialSpec, MeshPart, SubjectAssets
from synth.cameras import blender_to_opencv_w2c, opencv_c2w_to_blender

_SUN_STRENGTH = 3.5  # W/m^2 for energy 1: a white Lambertian surface facing it renders near 1.0


def configure_renderer(bproc, width: int, height: int, samples: int) -> None:
    import bpy

    bproc.camera.set_resolution(width, height)
    bproc.renderer.set_max_amount_of_samples(samples)
    bproc.renderer.set_noise_threshold(0.0)  # fixed sample count: predictable time, reproducible images
    bproc.renderer.set_denoiser(None)
    bproc.renderer.set_light_bounces(diffuse_bounces=2, glossy_bounces=1, ao_bounces_render=2, max_bounces=4,
                                     transmission_bounces=0, transparent_max_bounces=2, volume_bounces=0)
    bproc.renderer.set_output_format(enable_transparency=True, view_transform="Standard")
    scene = bpy.context.scene
    scene.cycles.seed = 0
    scene.cycles.use_animated_seed = False
    scene.render.film_transparent = True
    scene.render.filter_size = 1.0


def _image(name: str, pixels: np.ndarray):
    """A float Blender image from (R,R) data or (R,R,3) linear colour; row 0 is v = 0 (Blender's bottom)."""
    import bpy

    h, w = pixels.shape[:2]
    rgba = np.ones((h, w, 4), np.float32)
    rgba[..., :3] = pixels[..., None] if pixels.ndim == 2 else pixels
    img = bpy.data.images.new(name, w, h, alpha=False, float_buffer=True)
    img.colorspace_settings.name = "Non-Color" if pixels.ndim == 2 else "Linear Rec.709"
    img.pixels.foreach_set(rgba.ravel())
    img.pack()
    return img


def _material(bproc, name: str, spec: MaterialSpec):
    """A Principled BSDF material with UV textures. `name` must be new in this process: Cycles caches
    images by name across renders, so a reused name can show a previous subject's texture."""
    m = bproc.material.create(name)
    nodes, links = m.nodes, m.links
    bsdf = m.get_the_one_node_with_type("BsdfPrincipled")

    def texture(suffix, pixels):
        tex = nodes.new("ShaderNodeTexImage")
        tex.image = _image(f"{name}_{suffix}", pixels)
        tex.interpolation = "Linear"
        tex.extension = "EXTEND"
        return tex

    links.new(texture("albedo", spec.albedo).outputs["Color"], bsdf.inputs["Base Color"])
    links.new(texture("rough", spec.roughness).outputs["Color"], bsdf.inputs["Roughness"])
    bsdf.inputs["Specular IOR Level"].default_value = spec.specular
    if spec.bump is not None:
        bump = nodes.new("ShaderNodeBump")
        bump.inputs["Strength"].default_value = spec.bump_strength
        links.new(texture("bump", spec.bump).outputs["Color"], bump.inputs["Height"])
        links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    return m


def _mesh_object(bproc, part: MeshPart, material):
    """A smooth-shaded mesh object with a UV map and one shape key per view, keyed to frame v."""
    import bpy

    positions = np.ascontiguousarray(part.positions, np.float32)  # (V, n, 3)
    n_faces = len(part.faces)
    mesh = bpy.data.meshes.new(part.name)
    # Mesh.from_pydata, fed from arrays: its Python lists of tuples cost ~0.2 s for the skin alone
    mesh.vertices.add(positions.shape[1])
    mesh.vertices.foreach_set("co", positions[0].ravel())
    mesh.loops.add(3 * n_faces)
    mesh.polygons.add(n_faces)
    mesh.polygons.foreach_set("loop_start", np.arange(0, 3 * n_faces, 3, dtype=np.int32))
    mesh.polygons.foreach_set("vertices", part.faces.astype(np.int32).ravel())
    mesh.update(calc_edges=True)
    uv_layer = mesh.uv_layers.new(name="UVMap")
    uv_layer.data.foreach_set("uv", part.corner_uvs.astype(np.float32).ravel())
    mesh.polygons.foreach_set("use_smooth", np.ones(len(part.faces), bool))
    obj = bpy.data.objects.new(part.name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    n_views = positions.shape[0]
    if n_views > 1:
        obj.shape_key_add(name="Basis")
        for v in range(n_views):
            key = obj.shape_key_add(name=f"view{v:03d}", from_mix=False)
            key.points.foreach_set("co", positions[v].ravel())  # .points: the fast path (.data is not)
            for frame, value in ((v - 1, 0.0), (v, 1.0), (v + 1, 0.0)):
                if frame >= 0:
                    key.value = value
                    key.keyframe_insert("value", frame=frame)
        for fc in mesh.shape_keys.animation_data.action.fcurves:
            for kp in fc.keyframe_points:
                kp.interpolation = "CONSTANT"
    mo = bproc.types.MeshObject(obj)
    mo.replace_materials(material)
    mo.set_cp("category_id", part.label)
    return mo


def _sun(bproc, name: str, spec: dict) -> None:
    """A sun light shining from (yaw, pitch) toward the head (same angles as gasp.camera.orbit_eye)."""
    from mathutils import Vector

    light = bproc.types.Light(light_type="SUN", name=name)
    light.set_color(spec["color"])
    light.set_energy(_SUN_STRENGTH * spec["energy"])
    y, p = np.radians(spec["yaw"]), np.radians(spec["pitch"])
    d = Vector((np.cos(p) * np.sin(y), np.sin(p), np.cos(p) * np.cos(y)))
    light.set_rotation_euler(d.to_track_quat("Z", "Y").to_euler())
    light.blender_obj.data.angle = np.radians(12.0)  # soft shadow edges


def set_lighting(bproc, light: dict) -> None:
    """'uniform': white environment only (the paper's prior data). 'eval'/'check': key + fill suns + ambient."""
    if light["type"] == "uniform":
        bproc.renderer.set_world_background([1.0, 1.0, 1.0], strength=light["strength"])
        return
    amb = light["ambient"]
    bproc.renderer.set_world_background(amb["color"], strength=amb["strength"])
    _sun(bproc, "key", light["key"])
    _sun(bproc, "fill", light["fill"])


def build_scene(bproc, assets: SubjectAssets, light: dict, c2w: np.ndarray, K: np.ndarray,
                width: int, height: int, tag: str) -> None:
    """Objects, materials, lights and one camera pose per view. c2w (V,4,4) OpenCV, K (3,3);
    tag (e.g. the subject id) makes material and image names unique within the process."""
    materials = {name: _material(bproc, f"{tag}_{name}", spec) for name, spec in assets.materials.items()}
    for part in assets.parts:
        _mesh_object(bproc, part, materials[part.material])
    set_lighting(bproc, light)
    bproc.camera.set_intrinsics_from_K_matrix(K, width, height, clip_start=0.05, clip_end=20.0)
    for v, m in enumerate(c2w):
        bproc.camera.add_camera_pose(opencv_c2w_to_blender(m), frame=v)


def camera_readback(bproc, n_views: int) -> tuple[np.ndarray, np.ndarray]:
    """(K (3,3), w2c (V,4,4) OpenCV) as Blender will render them."""
    import bpy

    K = np.asarray(bproc.camera.get_intrinsics_as_K_matrix(), float)
    cam = bpy.context.scene.camera
    w2c = []
    for v in range(n_views):
        bpy.context.scene.frame_set(v)
        w2c.append(blender_to_opencv_w2c(np.array(cam.matrix_world)))
    return K, np.stack(w2c)


def enable_masks(bproc) -> None:
    """Render each object's mask label (custom property category_id) alongside the colours.

    Call after the scene is built: BlenderProc numbers the objects that exist at this call.
    """
    bproc.renderer.enable_segmentation_output(map_by=["category_id"], default_values={"category_id": 0})


def render(bproc) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """All keyed views -> (rgba (H,W,4) uint8 straight alpha, label maps (H,W) uint8 or None) per view."""
    out = bproc.renderer.render(verbose=False)
    masks = out.get("category_id_segmaps")
    return list(out["colors"]), None if masks is None else [np.asarray(m, np.uint8) for m in masks]
