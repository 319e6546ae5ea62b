// GASP avatar viewer: Spark (vendor/spark) renders the Gaussians; this file poses them.
//
// The avatar's Gaussians are bound to triangles of the head mesh (gasp/model/gaussians.py): per frame the
// page rebuilds each bound triangle's frame (edge, bitangent, normal; size k) from the posed
// vertices and places every Gaussian as gaussians_from_attributes does:
//   mean = surface point + R offset k,  rotation = q_face * q_local,  scale = exp(log_scale) k.
// Data layout: gasp/viewer/bundle.py. Rendering happens on demand (orbit, play, capture); a test
// drives the page through window.gasp (setSize, setCameraCV, setFrame, capture).
import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";
import { ExtSplats, SparkRenderer, SplatMesh } from "@sparkjsdev/spark";

const t0 = performance.now();
const api = (window.gasp = { ready: false, error: null, stats: {} });
const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const HALF = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();

function read(buf, spec) {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  switch (spec.dtype) {
    case "f4": return new Float32Array(buf, spec.offset, n);
    case "i2": return new Int16Array(buf, spec.offset, n);
    case "u2": return new Uint16Array(buf, spec.offset, n);
    case "u4": return new Uint32Array(buf, spec.offset, n);
    case "f2": {
      const h = new Uint16Array(buf, spec.offset, n), out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = HALF[h[i]];
      return out;
    }
    default: throw new Error(`unknown dtype ${spec.dtype}`);
  }
}

async function fetchGzip(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Response(r.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer();
}

// The offset MLP of gasp/model/fitted_avatar.py (OffsetMLP): per-Gaussian part once, per-frame part per frame.
class OffsetMLP {
  constructor(arch, a, uv, n) {
    const W = (k) => a[`mlp.${k}`];
    this.h = arch.hidden;
    this.n = n;
    this.firstE = W("first_e.weight");
    this.firstEb = W("first_e.bias");
    this.nCond = arch.n_cond;
    this.hidden = [];
    for (let l = 0; l < arch.layers - 1; l++) this.hidden.push([W(`hidden.${l}.weight`), W(`hidden.${l}.bias`)]);
    this.outW = W("out.weight");
    this.outB = W("out.bias");
    const F = arch.freqs, D = 2 + 4 * F, g = W("first_g.weight"), H = this.h;
    this.G = new Float32Array(n * H);
    const enc = new Float32Array(D);
    for (let i = 0; i < n; i++) {
      const u = uv[2 * i], v = uv[2 * i + 1];
      enc[0] = u; enc[1] = v;
      for (let f = 0; f < F; f++) {
        const w = 2 ** f * Math.PI;
        enc[2 + f] = Math.sin(u * w); enc[2 + F + f] = Math.sin(v * w);
        enc[2 + 2 * F + f] = Math.cos(u * w); enc[2 + 3 * F + f] = Math.cos(v * w);
      }
      for (let j = 0; j < H; j++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += g[j * D + d] * enc[d];
        this.G[i * H + j] = s;
      }
    }
    this.out = new Float32Array(n * 10);
  }

  // cond (E+3) -> this.out (N,10): deltas of [offset 3 | quat 4 | log_scale 3]
  run(cond) {
    const H = this.h, C = this.nCond, silu = (x) => x / (1 + Math.exp(-x));
    const e = new Float32Array(H);
    for (let j = 0; j < H; j++) {
      let s = this.firstEb[j];
      for (let c = 0; c < C; c++) s += this.firstE[j * C + c] * cond[c];
      e[j] = s;
    }
    let h = new Float32Array(H), h2 = new Float32Array(H);
    for (let i = 0; i < this.n; i++) {
      for (let j = 0; j < H; j++) h[j] = silu(this.G[i * H + j] + e[j]);
      for (const [w, b] of this.hidden) {
        for (let j = 0; j < H; j++) {
          let s = b[j];
          for (let k = 0; k < H; k++) s += w[j * H + k] * h[k];
          h2[j] = silu(s);
        }
        [h, h2] = [h2, h];
      }
      for (let o = 0; o < 10; o++) {
        let s = this.outB[o];
        for (let k = 0; k < H; k++) s += this.outW[o * H + k] * h[k];
        this.out[i * 10 + o] = s;
      }
    }
    return this.out;
  }
}

class Deformer {
  constructor(m, abuf, mbuf) {
    const a = {}, mo = {};
    for (const [k, s] of Object.entries(m.avatar_bin)) a[k] = read(abuf, s);
    for (const [k, s] of Object.entries(m.motion_bin)) mo[k] = read(mbuf, s);
    Object.assign(this, { m, a, mo, n: m.n_gaussians, nf: m.n_faces, T: m.n_frames });
    const { lo, step, center } = m.quant;
    this.rest = new Float32Array(m.n_verts * 3);
    for (let i = 0; i < this.rest.length; i++) this.rest[i] = lo[i % 3] + (a.rest[i] + center) * step[i % 3];
    this.verts = Float32Array.from(this.rest);
    this.coef = new Float32Array(m.n_basis);
    this.R = new Float32Array(this.nf * 9);
    this.k = new Float32Array(this.nf);
    this.q = new Float32Array(this.nf * 4);
    this.mlp = m.mlp ? new OffsetMLP(m.mlp, a, a.uv, this.n) : null;
    this.cond = m.mlp ? new Float32Array(m.mlp.n_cond) : null;
    this.rt = new Float32Array(6);
  }

  // Vertices, rigid pose and MLP condition at fractional frame f (linear between frames, looping).
  // Moving vertices: neutral + coeffs(f) @ basis (bundle.py motion_basis).
  setTime(f) {
    const T = this.T, f0 = Math.floor(f) % T, f1 = (f0 + 1) % T, w = f - Math.floor(f);
    const lerp = (arr, width, out) => {
      for (let c = 0; c < width; c++) out[c] = arr[f0 * width + c] * (1 - w) + arr[f1 * width + c] * w;
    };
    const dyn = this.mo.dynamic, B = this.mo.basis, D3 = 3 * dyn.length, K = this.m.n_basis;
    lerp(this.mo.coeffs, K, this.coef);
    for (let d = 0; d < dyn.length; d++) {
      for (let c = 0; c < 3; c++) {
        const j = 3 * d + c;
        let x = this.rest[3 * dyn[d] + c];
        for (let k = 0; k < K; k++) x += this.coef[k] * B[k * D3 + j];
        this.verts[3 * dyn[d] + c] = x;
      }
    }
    lerp(this.mo.global_rt, 6, this.rt);
    if (this.mlp) lerp(this.mo.cond, this.cond.length, this.cond);
  }

  // Triangle frames R = [edge, bitangent, normal] (columns), size k and quaternion (wxyz) per face.
  frames() {
    const v = this.verts, F = this.a.faces, edge = this.m.scale_mode === "edge";
    for (let f = 0; f < this.nf; f++) {
      const i0 = F[3 * f] * 3, i1 = F[3 * f + 1] * 3, i2 = F[3 * f + 2] * 3;
      const e0x = v[i1] - v[i0], e0y = v[i1 + 1] - v[i0 + 1], e0z = v[i1 + 2] - v[i0 + 2];
      const e1x = v[i2] - v[i0], e1y = v[i2 + 1] - v[i0 + 1], e1z = v[i2 + 2] - v[i0 + 2];
      let nx = e0y * e1z - e0z * e1y, ny = e0z * e1x - e0x * e1z, nz = e0x * e1y - e0y * e1x;
      const area2 = Math.hypot(nx, ny, nz), l0 = Math.hypot(e0x, e0y, e0z);
      const il0 = 1 / Math.max(l0, 1e-12), ia = 1 / Math.max(area2, 1e-12);
      const tx = e0x * il0, ty = e0y * il0, tz = e0z * il0;
      nx *= ia; ny *= ia; nz *= ia;
      const bx = ny * tz - nz * ty, by = nz * tx - nx * tz, bz = nx * ty - ny * tx;
      const R = this.R, o = 9 * f;  // row-major: R[r][c], columns t, b, n
      R[o] = tx; R[o + 1] = bx; R[o + 2] = nx;
      R[o + 3] = ty; R[o + 4] = by; R[o + 5] = ny;
      R[o + 6] = tz; R[o + 7] = bz; R[o + 8] = nz;
      this.k[f] = edge
        ? (l0 + Math.hypot(e1x, e1y, e1z) + Math.hypot(v[i2] - v[i1], v[i2 + 1] - v[i1 + 1], v[i2 + 2] - v[i1 + 2])) / 3
        : Math.sqrt(0.5 * area2);
      // rotation matrix -> quaternion (Shepperd)
      const m00 = tx, m01 = bx, m02 = nx, m10 = ty, m11 = by, m12 = ny, m20 = tz, m21 = bz, m22 = nz;
      const tr = m00 + m11 + m22;
      let w, x, y, z;
      if (tr > 0) {
        const s = 0.5 / Math.sqrt(tr + 1);
        w = 0.25 / s; x = (m21 - m12) * s; y = (m02 - m20) * s; z = (m10 - m01) * s;
      } else if (m00 > m11 && m00 > m22) {
        const s = 2 * Math.sqrt(1 + m00 - m11 - m22);
        w = (m21 - m12) / s; x = 0.25 * s; y = (m01 + m10) / s; z = (m02 + m20) / s;
      } else if (m11 > m22) {
        const s = 2 * Math.sqrt(1 + m11 - m00 - m22);
        w = (m02 - m20) / s; x = (m01 + m10) / s; y = 0.25 * s; z = (m12 + m21) / s;
      } else {
        const s = 2 * Math.sqrt(1 + m22 - m00 - m11);
        w = (m10 - m01) / s; x = (m02 + m20) / s; y = (m12 + m21) / s; z = 0.25 * s;
      }
      const q = this.q, p = 4 * f;
      q[p] = w; q[p + 1] = x; q[p + 2] = y; q[p + 3] = z;
    }
  }

  // Pose every Gaussian (in the head frame, before the rigid pose) into Spark's splat store.
  write(splats) {
    this.frames();
    const a = this.a, v = this.verts, F = a.faces, d = this.mlp ? this.mlp.run(this.cond) : null;
    const center = new THREE.Vector3(), scales = new THREE.Vector3(), quat = new THREE.Quaternion();
    const color = new THREE.Color();
    for (let i = 0; i < this.n; i++) {
      const f = a.face[i], r = 9 * f, k = this.k[f];
      let ox = a.offset[3 * i], oy = a.offset[3 * i + 1], oz = a.offset[3 * i + 2];
      let lw = a.quat[4 * i], lx = a.quat[4 * i + 1], ly = a.quat[4 * i + 2], lz = a.quat[4 * i + 3];
      let s0 = a.log_scale[3 * i], s1 = a.log_scale[3 * i + 1], s2 = a.log_scale[3 * i + 2];
      if (d) {
        const o = 10 * i;
        ox += d[o]; oy += d[o + 1]; oz += d[o + 2];
        lw += d[o + 3]; lx += d[o + 4]; ly += d[o + 5]; lz += d[o + 6];
        s0 += d[o + 7]; s1 += d[o + 8]; s2 += d[o + 9];
      }
      const ln = 1 / Math.max(Math.hypot(lw, lx, ly, lz), 1e-12);
      lw *= ln; lx *= ln; ly *= ln; lz *= ln;
      let px = 0, py = 0, pz = 0;
      for (let c = 0; c < 3; c++) {
        const vi = F[3 * f + c] * 3, b = a.barys[3 * i + c];
        px += b * v[vi]; py += b * v[vi + 1]; pz += b * v[vi + 2];
      }
      const R = this.R;
      center.set(px + (R[r] * ox + R[r + 1] * oy + R[r + 2] * oz) * k,
                 py + (R[r + 3] * ox + R[r + 4] * oy + R[r + 5] * oz) * k,
                 pz + (R[r + 6] * ox + R[r + 7] * oy + R[r + 8] * oz) * k);
      const q = this.q, p = 4 * f, aw = q[p], ax = q[p + 1], ay = q[p + 2], az = q[p + 3];
      quat.set(aw * lx + ax * lw + ay * lz - az * ly,   // Hamilton product q_face * q_local; three is xyzw
               aw * ly - ax * lz + ay * lw + az * lx,
               aw * lz + ax * ly - ay * lx + az * lw,
               aw * lw - ax * lx - ay * ly - az * lz);
      scales.set(Math.exp(s0) * k, Math.exp(s1) * k, Math.exp(s2) * k);
      color.r = a.rgb[3 * i]; color.g = a.rgb[3 * i + 1]; color.b = a.rgb[3 * i + 2];
      splats.setSplat(i, center, scales, quat, a.opacity[i], color);
    }
  }

  // global_rt (axis-angle, translation) as the splat mesh's transform
  applyRigid(mesh) {
    const [rx, ry, rz, tx, ty, tz] = this.rt, angle = Math.hypot(rx, ry, rz);
    if (angle > 1e-12) mesh.quaternion.setFromAxisAngle(new THREE.Vector3(rx / angle, ry / angle, rz / angle), angle);
    else mesh.quaternion.identity();
    mesh.position.set(tx, ty, tz);
    mesh.updateMatrixWorld();
  }
}

async function main() {
  const params = new URLSearchParams(location.search);
  const m = await (await fetch("avatar.json")).json();
  const [abuf, mbuf] = await Promise.all([fetchGzip("avatar.bin.gz"), fetchGzip("motion.bin.gz")]);
  api.stats.downloadMs = performance.now() - t0;
  const deformer = new Deformer(m, abuf, mbuf);

  const host = $("view");
  const renderer = new THREE.WebGLRenderer({ antialias: false });
  renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
  renderer.setSize(host.clientWidth, host.clientHeight);
  // display values as they are: Spark leaves colours alone with an sRGB output (see its encodeLinear)
  renderer.setClearColor(new THREE.Color().setRGB(...m.background, THREE.SRGBColorSpace), 1);
  document.body.style.background = `rgb(${m.background.map((c) => Math.round(255 * c)).join(",")})`;
  host.appendChild(renderer.domElement);

  // gsplat's "classic" splatting, which gasp.model.render follows: 0.3 px^2 added to the 2D covariance
  // without opacity compensation, 3 sigma support, alpha below 1/255 dropped, sorted by view depth
  const spark = new SparkRenderer({ renderer, preBlurAmount: 0.3, blurAmount: 0.0, maxStdDev: 3.0,
                                    minAlpha: 1 / 255, sortRadial: false, onDirty: () => requestRender() });
  const scene = new THREE.Scene();
  scene.add(spark);
  const cam = m.camera, target = new THREE.Vector3(...cam.target);
  const camera = new THREE.PerspectiveCamera(45, host.clientWidth / host.clientHeight, 0.01, 100);
  const setFov = (focalPx, heightPx) => { camera.fov = (2 * Math.atan(heightPx / 2 / focalPx) * 180) / Math.PI; };
  const sensorFov = () => {  // focal_mm on a 36 mm sensor across the shorter side (square: gasp/camera.py orbit_camera)
    const w = renderer.domElement.width, h = renderer.domElement.height;
    setFov((cam.focal_mm / 36) * Math.min(w, h), h);
    camera.aspect = w / h;
    camera.updateProjectionMatrix();
  };
  const setView = (yawDeg, pitchDeg, distance = cam.distance) => {
    const y = THREE.MathUtils.degToRad(yawDeg), p = THREE.MathUtils.degToRad(pitchDeg);
    camera.position.set(target.x + distance * Math.cos(p) * Math.sin(y), target.y + distance * Math.sin(p),
                        target.z + distance * Math.cos(p) * Math.cos(y));
    camera.up.set(0, 1, 0);
    camera.lookAt(target);
    camera.updateMatrixWorld();
  };
  sensorFov();
  setView(0, cam.pitch_deg);
  const controls = new OrbitControls(camera, renderer.domElement);
  controls.target.copy(target);
  controls.screenSpacePanning = true;
  controls.update();
  controls.addEventListener("change", () => requestRender());

  const splats = new ExtSplats({ maxSplats: deformer.n });
  deformer.setTime(0);
  deformer.write(splats);
  splats.updateTextures();
  const mesh = new SplatMesh({ extSplats: splats });
  await mesh.initialized;
  deformer.applyRigid(mesh);
  scene.add(mesh);

  let frame = 0, playing = params.get("play") !== "0", last = null, lastDraw = null, interval = 0;
  const showFrame = (f) => {
    frame = ((f % deformer.T) + deformer.T) % deformer.T;
    deformer.setTime(frame);
    deformer.write(splats);
    splats.textures[0].needsUpdate = true;
    splats.textures[1].needsUpdate = true;
    mesh.updateVersion();
    deformer.applyRigid(mesh);
    $("scrub").value = frame;
    $("frame").textContent = `${Math.floor(frame)}/${deformer.T}`;
  };
  const info = () => {
    const rate = interval ? `${(1000 / interval).toFixed(1)} fps` : "";
    const busy = lastDraw !== null && performance.now() - lastDraw < 1000;
    const shown = busy ? rate : `idle${rate && ` (${rate} when drawing)`}`;
    $("info").textContent = `${m.n_gaussians.toLocaleString()} Gaussians   ${shown}\n` +
      `${m.method ?? "avatar"}${m.subject ? " / " + m.subject : ""}   motion: ${m.motion} (${m.n_frames} frames)`;
  };
  let pending = false;
  function requestRender() {
    if (!pending) { pending = true; requestAnimationFrame(draw); }
  }
  function draw() {
    const now = performance.now();  // not rAF's timestamp: headless shells pace it differently
    pending = false;
    if (playing) {
      if (last !== null) showFrame(frame + ((now - last) / 1000) * m.fps);
      last = now;
      requestRender();
    }
    renderer.render(scene, camera);
    if (lastDraw !== null && now - lastDraw < 1000) {  // frame rate: mean interval between consecutive draws
      interval = interval ? 0.8 * interval + 0.2 * (now - lastDraw) : now - lastDraw;
    }
    lastDraw = now;
  }
  setInterval(info, 1000);
  const setPlaying = (on) => {
    playing = on; last = null;
    $("play").textContent = on ? "pause" : "play";
    requestRender();
  };

  $("scrub").max = String(deformer.T - 1e-3);
  $("play").onclick = () => setPlaying(!playing);
  $("scrub").oninput = (e) => { setPlaying(false); showFrame(Number(e.target.value)); requestRender(); };
  $("reset").onclick = () => { setView(0, cam.pitch_deg); controls.target.copy(target); controls.update(); };
  window.addEventListener("resize", () => {
    renderer.setSize(host.clientWidth, host.clientHeight);
    sensorFov();
    requestRender();
  });

  // Sorting runs in a worker: wait until Spark has sorted for the current camera and frame.
  const settle = async () => {
    camera.updateMatrixWorld();
    for (let i = 0; i < 200; i++) {
      await spark.update({ scene, camera });
      while (spark.sorting) await sleep(5);
      if (!spark.sortDirty) return;
    }
  };
  Object.assign(api, {
    setSize(w, h) {
      renderer.setPixelRatio(1);
      renderer.setSize(w, h);
      sensorFov();
    },
    setView(yawDeg, pitchDeg = cam.pitch_deg) { setView(yawDeg, pitchDeg); controls.update(); },
    // OpenCV camera (w2c row-major 4x4, K row-major 3x3, principal point at the centre) as a three.js camera
    setCameraCV(w2c, K) {
      const c2w = new THREE.Matrix4().set(...w2c).invert().multiply(new THREE.Matrix4().makeScale(1, -1, -1));
      c2w.decompose(camera.position, camera.quaternion, new THREE.Vector3());
      setFov(K[4], renderer.domElement.height);
      camera.aspect = (renderer.domElement.width / renderer.domElement.height) * (K[4] / K[0]);
      camera.updateProjectionMatrix();
      camera.updateMatrixWorld();
    },
    setFrame(f) { setPlaying(false); showFrame(f); },
    async capture() {
      await settle();
      renderer.render(scene, camera);
      return renderer.domElement.toDataURL("image/png");
    },
  });
  info();
  await settle();
  renderer.render(scene, camera);
  const gl = renderer.getContext();  // reading a pixel waits until the frame is really drawn
  gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
  api.stats.firstFrameMs = performance.now() - t0;
  api.stats.nGaussians = m.n_gaussians;
  api.ready = true;
  document.body.dataset.ready = "1";
  setPlaying(playing);
}

main().catch((e) => {
  api.error = String(e && e.stack ? e.stack : e);
  $("error").style.display = "block";
  $("error").textContent = `viewer error: ${e}`;
  console.error(e);
});
