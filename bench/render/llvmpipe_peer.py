"""The render throughput peer: the meshes synface renders (dumped by the `mesh_dump` example)
drawn with OpenGL on Mesa's llvmpipe (software rasteriser) through moderngl, at the same size
and samples per pixel, read back as RGB bytes; prints images/s of the draw + readback loop.

What it draws per image, as synface does: the background first, then the triangles
(back faces culled, depth-tested on 1/depth, perspective-correct), each fragment
tone(albedo(s, t) * irradiance + specular) with the identity's albedo texture sampled bilinearly
and the per-vertex irradiance interpolated. Each identity's texture is uploaded once before its
images (synface builds each identity once); per image the vertex buffer (posed positions +
irradiance) and the background texture are uploaded, drawn, resolved and read back.

Samples per pixel (--mode): `msaa` renders SIZE x SIZE with SS*SS-sample multisampling (one
shade per pixel and fragment, depth and coverage per sample, as synface's resolve does) and
resolves with a blit; `grid` renders (SS*SIZE)^2 pixels (synface's sample positions exactly,
every sample shaded) and box-filters it with a pass that samples it bilinearly at the centre of each
2x2 block (SS 2), or reads it as it is (SS 1).
Threads: set LP_NUM_THREADS (llvmpipe's rasteriser threads) before running; the script
forces llvmpipe (LIBGL_ALWAYS_SOFTWARE=1, GALLIUM_DRIVER=llvmpipe) itself.

Usage: llvmpipe_peer.py DUMP_DIR [--mode msaa|grid] [--repeat R] [--save DIR] [--json FILE]
"""

import argparse
import json
import os
import sys
import time

os.environ["LIBGL_ALWAYS_SOFTWARE"] = "1"
os.environ["GALLIUM_DRIVER"] = "llvmpipe"

import numpy as np  # noqa: E402

VERT = """
#version 330
uniform float size;
in vec3 pos;      // x, y in output pixels (y down), 1/depth
in vec4 light;    // irradiance rgb, specular
in vec2 st;
out vec4 v_light;
out vec2 v_st;
void main() {
    float w = 1.0 / pos.z;
    // window y = image row, so a read-back row 0 is the image's top row; depth test on 1/depth
    // (nearer = larger), affine in 1/w so it interpolates linearly on screen like synface's
    gl_Position = vec4((2.0 * pos.x / size - 1.0) * w, (2.0 * pos.y / size - 1.0) * w,
                       (0.09375 - pos.z) * 30.0 * w, w);
    v_light = light;
    v_st = st;
}
"""

FRAG = """
#version 330
uniform sampler2D albedo;
in vec4 v_light;
in vec2 v_st;
out vec4 color;
vec3 tone(vec3 v) {
    vec3 u = max((v - 0.8) * 5.0, 0.0);
    return clamp(v, 0.0, 0.8) + 0.2 * u / (1.0 + u);
}
void main() {
    vec3 a = texture(albedo, v_st).rgb;
    color = vec4(tone(a * v_light.rgb + v_light.a), 1.0);
}
"""

BG_VERT = """
#version 330
void main() {
    vec2 p = vec2(float((gl_VertexID & 1) * 4 - 1), float((gl_VertexID & 2) * 2 - 1));
    gl_Position = vec4(p, 0.999, 1.0);
}
"""

BG_FRAG = """
#version 330
uniform sampler2D bg;
uniform float scale;   // framebuffer pixels per output pixel
out vec4 color;
void main() {
    color = vec4(texelFetch(bg, ivec2(gl_FragCoord.xy / scale), 0).rgb, 1.0);
}
"""

DOWN_FRAG = """
#version 330
uniform sampler2D src;
uniform float size;
out vec4 color;
void main() {
    color = texture(src, gl_FragCoord.xy / size);
}
"""


def load(dump):
    with open(os.path.join(dump, "index.json")) as f:
        idx = json.load(f)
    arrays = {}
    for name, (dtype, shape) in idx["files"].items():
        path = os.path.join(dump, name)
        a = np.fromfile(path, dtype={"f32": "<f4", "u32": "<u4", "u8": "u1"}[dtype])
        if a.size != int(np.prod(shape)):
            sys.exit(f"llvmpipe_peer: {path}: {a.size} values, index.json says {shape}")
        arrays[name] = a.reshape(shape)
    return idx, arrays


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dump")
    ap.add_argument("--mode", choices=["msaa", "grid"], default="msaa")
    ap.add_argument("--repeat", type=int, default=1, help="timed passes over all images")
    ap.add_argument("--save", help="write the first images (peer | synface) as PNGs here")
    ap.add_argument("--json", help="write the measurement here")
    args = ap.parse_args()

    import moderngl

    idx, arr = load(args.dump)
    n, size, ss, per_id = idx["images"], idx["size"], idx["supersample"], idx["per_id"]
    identity_of = idx["identity_of"]
    verts = arr["verts.f32"]
    bgs = arr["background.u8"]
    # textures as RGBA8 (what a user would upload; converted once, outside the timed loop)
    albedo = np.concatenate(
        [
            np.clip(arr["albedo.f32"] * 255.0 + 0.5, 0, 255).astype(np.uint8),
            np.full(arr["albedo.f32"].shape[:3] + (1,), 255, np.uint8),
        ],
        axis=3,
    )
    th, tw = idx["texture"]

    ctx = moderngl.create_standalone_context(backend="egl", require=330)
    renderer = ctx.info["GL_RENDERER"]
    if "llvmpipe" not in renderer:
        sys.exit(f"llvmpipe_peer: the context runs on `{renderer}`, not llvmpipe")
    samples = ss * ss
    if args.mode == "msaa":
        if samples > 1 and samples > ctx.max_samples:
            sys.exit(f"llvmpipe_peer: {samples} samples asked, llvmpipe offers {ctx.max_samples}")
        fb_size, fb_samples = size, (samples if samples > 1 else 0)
    else:
        if ss not in (1, 2):
            sys.exit("llvmpipe_peer: --mode grid supports supersample 1 or 2 (a 2:1 bilinear pass box-filters)")
        fb_size, fb_samples = size * ss, 0
    if args.mode == "grid" and ss > 1:
        # every sample a pixel of a texture, box-filtered by a pass that samples it bilinearly
        # at the centre of each 2x2 block
        grid_tex = ctx.texture((fb_size, fb_size), 4)
        grid_tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
        color = grid_tex
    else:
        color = ctx.renderbuffer((fb_size, fb_size), 4, samples=fb_samples)
    draw_fb = ctx.framebuffer(
        color_attachments=[color],
        depth_attachment=ctx.depth_renderbuffer((fb_size, fb_size), samples=fb_samples),
    )
    direct = fb_size == size and fb_samples == 0
    out_fb = draw_fb if direct else ctx.framebuffer(
        color_attachments=[ctx.renderbuffer((size, size), 4)]
    )
    if direct:
        def resolve():
            pass
    elif args.mode == "msaa":
        def resolve():
            ctx.copy_framebuffer(out_fb, draw_fb)  # glBlitFramebuffer: the MSAA resolve
    else:
        down_prog = ctx.program(vertex_shader=BG_VERT, fragment_shader=DOWN_FRAG)
        down_prog["src"].value = 2
        down_prog["size"].value = float(size)
        down_vao = ctx.vertex_array(down_prog, [])

        def resolve():
            out_fb.use()
            ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
            grid_tex.use(2)
            down_vao.render(moderngl.TRIANGLES, vertices=3)

    prog = ctx.program(vertex_shader=VERT, fragment_shader=FRAG)
    prog["size"].value = float(size)
    prog["albedo"].value = 0
    bg_prog = ctx.program(vertex_shader=BG_VERT, fragment_shader=BG_FRAG)
    bg_prog["bg"].value = 1
    bg_prog["scale"].value = float(fb_size // size)

    nv = idx["vertices"]
    dyn = ctx.buffer(reserve=nv * 7 * 4, dynamic=True)
    st_buf = ctx.buffer(np.ascontiguousarray(arr["st.f32"]).tobytes())
    ibo = ctx.buffer(np.ascontiguousarray(arr["tris.u32"]).tobytes())
    vao = ctx.vertex_array(
        prog, [(dyn, "3f 4f", "pos", "light"), (st_buf, "2f", "st")], index_buffer=ibo,
        index_element_size=4,
    )
    bg_vao = ctx.vertex_array(bg_prog, [])
    tex = ctx.texture((tw, th), 4)
    tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
    tex.repeat_x = tex.repeat_y = False  # CLAMP_TO_EDGE
    bg_tex = ctx.texture((size, size), 3, alignment=1)
    bg_tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
    out = np.empty((n, size, size, 3), np.uint8)
    # synface's front faces are clockwise on screen with y down (= window y here)
    ctx.front_face = "cw"
    ctx.cull_face = "back"

    def render(images):
        current = None
        for i in images:
            ident = identity_of[i]
            if ident != current:  # once per identity
                tex.write(albedo[ident])
                current = ident
            dyn.write(verts[i])
            bg_tex.write(bgs[i])
            draw_fb.use()
            ctx.clear(depth=1.0)
            ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)  # (no depth writes either)
            tex.use(0)
            bg_tex.use(1)
            bg_vao.render(moderngl.TRIANGLES, vertices=3)
            ctx.enable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
            vao.render(moderngl.TRIANGLES)
            resolve()
            out_fb.read_into(out[i], components=3, alignment=1)

    # warm-up: every identity's first image (shader variants compiled, buffers allocated)
    warm = sorted({identity_of.index(k) for k in set(identity_of)})
    render(warm)
    ctx.finish()
    start = time.perf_counter()
    for _ in range(args.repeat):
        render(range(n))
    ctx.finish()
    secs = time.perf_counter() - start
    rate = n * args.repeat / secs

    own = arr["synface.u8"]
    diff = np.abs(out.astype(np.int16) - own.astype(np.int16))
    threads = os.environ.get("LP_NUM_THREADS", "default")
    print(
        f"llvmpipe {args.mode} {size}x{size} {samples} samples/px LP_NUM_THREADS={threads}: "
        f"{rate:.0f} images/s ({renderer}; vs synface: mean |diff| {diff.mean():.2f}/255, "
        f"{(diff.max(axis=3) > 16).mean() * 100:.1f}% of pixels off by > 16)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"mode": args.mode, "threads": threads, "images_per_s": rate, "images": n,
                 "repeat": args.repeat, "size": size, "samples": samples,
                 "renderer": renderer, "mean_abs_diff": float(diff.mean())},
                f,
            )
    if args.save:
        from PIL import Image

        os.makedirs(args.save, exist_ok=True)
        picks = list(range(min(4, per_id))) + [per_id * k for k in range(1, 4) if per_id * k < n]
        rows = [np.concatenate([out[i], own[i], np.clip(diff[i] * 4, 0, 255).astype(np.uint8)],
                               axis=1) for i in picks]
        Image.fromarray(np.concatenate(rows, axis=0)).save(
            os.path.join(args.save, f"peer-{args.mode}-vs-synface.png"))
        for i in picks:
            Image.fromarray(out[i]).save(os.path.join(args.save, f"peer-{args.mode}-{i}.png"))


if __name__ == "__main__":
    main()
