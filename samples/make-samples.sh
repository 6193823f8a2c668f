#!/usr/bin/env bash
# Regenerates every sample in samples/media/ from Debian packages only:
#   python3-skimage  (the source photos: astronaut.png, camera.png, coffee.png)
#   ffmpeg           (JPEG stills and H.264 clips)
#   python3-opencv   (Debian's /usr/bin/python3; measures the face boxes written to faces.json)
#   lockpipe encrypt (the .enc containers; falls back to openssl enc + a written header)
# See samples/PROVENANCE.md for sources and licenses.
#
#   samples/make-samples.sh              (uses build/lockpipe if it exists)
#   LOCKPIPE=build-x/lockpipe samples/make-samples.sh
#
# The plaintext files are reproducible (bit-exact encoder and muxer flags, one
# encoder thread); the .enc files are not, because every encryption takes a
# fresh random IV.
set -euo pipefail
cd "$(dirname "$0")"
OUT=media
SKIMAGE_DATA=${SKIMAGE_DATA:-/usr/lib/python3/dist-packages/skimage/data}
# The documented sample key (16 characters = AES-128). Not a secret: it only
# protects the public sample media below.
SAMPLE_KEY=lockpipesample16
LOCKPIPE=${LOCKPIPE:-../build/lockpipe}

for f in astronaut.png camera.png coffee.png; do
  [ -f "$SKIMAGE_DATA/$f" ] || { echo "missing $SKIMAGE_DATA/$f: apt-get install python3-skimage" >&2; exit 1; }
done
command -v ffmpeg >/dev/null || { echo "ffmpeg not found: apt-get install ffmpeg" >&2; exit 1; }
mkdir -p "$OUT"

FF=(ffmpeg -hide_banner -loglevel error -y)
BITEXACT=(-fflags +bitexact -flags:v +bitexact -map_metadata -1)

# Stills: re-encoded as baseline JPEG, quality ~90 (q:v 3).
"${FF[@]}" -i "$SKIMAGE_DATA/astronaut.png" "${BITEXACT[@]}" -q:v 3 "$OUT/astronaut.jpg"
# camera.png is 8-bit grey; kept grey (a real lock camera at night is too).
"${FF[@]}" -i "$SKIMAGE_DATA/camera.png" "${BITEXACT[@]}" -q:v 3 "$OUT/camera.jpg"
"${FF[@]}" -i "$SKIMAGE_DATA/coffee.png" "${BITEXACT[@]}" -q:v 3 "$OUT/noface.jpg"

# Clips: a slow zoom (1.0 -> ~1.2 over the clip) centred on the upper middle of
# the still, so the face stays in frame. 25 fps, GOP 25 (a keyframe every
# second), no B-frame surprises beyond x264's defaults, yuv420p.
X264=(-c:v libx264 -preset medium -crf 26 -g 25 -keyint_min 25 -sc_threshold 0 -pix_fmt yuv420p
      -threads 1 -x264-params threads=1)
zoom() {  # zoom <seconds> <WxH>
  echo "zoompan=z='1+0.0015*on':d=1:x='iw/2-(iw/zoom/2)':y='ih/3-(ih/zoom/3)':s=$2:fps=25"
}
# 360p: 4 s, moov atom first (faststart) - what a streaming upload looks like.
"${FF[@]}" -loop 1 -framerate 25 -t 4 -i "$SKIMAGE_DATA/astronaut.png" \
  -vf "scale=640:640,crop=640:360:0:20,$(zoom 4 640x360)" "${X264[@]}" "${BITEXACT[@]}" \
  -movflags +faststart "$OUT/astronaut_360p_faststart.mp4"
# 720p: 6 s, default mp4 muxer: the moov atom is at the END of the file, so a
# reader must seek to the end before it can decode anything.
"${FF[@]}" -loop 1 -framerate 25 -t 6 -i "$SKIMAGE_DATA/astronaut.png" \
  -vf "scale=1280:1280,crop=1280:720:0:40,$(zoom 6 1280x720)" "${X264[@]}" "${BITEXACT[@]}" \
  "$OUT/astronaut_720p_moov_end.mp4"
# 360p grey cameraman, 3 s, faststart.
"${FF[@]}" -loop 1 -framerate 25 -t 3 -i "$SKIMAGE_DATA/camera.png" \
  -vf "scale=640:640,crop=640:360:0:0,$(zoom 3 640x360)" "${X264[@]}" "${BITEXACT[@]}" \
  -movflags +faststart "$OUT/camera_360p.mp4"

# Encrypted copies in the lock media layout (64-byte header, IV at 4..19,
# AES-128-CBC, PKCS#7).
encrypt() {  # encrypt <in> <out>
  if [ -x "$LOCKPIPE" ]; then
    "$LOCKPIPE" encrypt --key "$SAMPLE_KEY" "$1" -o "$2"
  else
    local iv keyhex tmp
    iv=$(openssl rand -hex 16)
    keyhex=$(printf %s "$SAMPLE_KEY" | od -An -tx1 | tr -d ' \n')
    tmp=$(mktemp)
    { head -c 4 /dev/zero; printf %s "$iv" | xxd -r -p; head -c 44 /dev/zero; } >"$tmp"
    openssl enc -aes-128-cbc -K "$keyhex" -iv "$iv" -in "$1" >>"$tmp"
    mv "$tmp" "$2"
  fi
}
for f in astronaut.jpg camera.jpg noface.jpg astronaut_360p_faststart.mp4 \
         astronaut_720p_moov_end.mp4 camera_360p.mp4; do
  base=${f%.*}
  encrypt "$OUT/$f" "$OUT/$base.enc"
done

# Face boxes, measured with OpenCV: YuNet (the model in ../shared/models, if
# present; YUNET_MODEL=path overrides) and the stock Haar frontal-face cascade
# (Debian opencv-data) on the stills and on frame 0 of each clip. The Haar
# cascade misses the cameraman (three-quarter view, small face); YuNet finds it.
YUNET_MODEL=${YUNET_MODEL:-../../shared/models/face_detection_yunet_2022mar.onnx}
/usr/bin/python3 - "$OUT" "$YUNET_MODEL" <<'EOF'
import json, os, sys, cv2
out, yunet_model = sys.argv[1], sys.argv[2]
casc = None
for p in ["/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml",
          "/usr/share/opencv/haarcascades/haarcascade_frontalface_default.xml"]:
    c = cv2.CascadeClassifier(p)
    if not c.empty():
        casc = c
        break
if casc is None:
    sys.exit("no Haar cascade found: apt-get install opencv-data")
have_yunet = os.path.isfile(yunet_model)
if not have_yunet:
    print(f"note: {yunet_model} not found; faces.json gets Haar boxes only", file=sys.stderr)

def haar(img):
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    # Minimum face size a tenth of the shorter side: drops the tiny false
    # positives the cascade finds in the astronaut's suit patches.
    m = max(20, min(g.shape) // 10)
    r = casc.detectMultiScale(g, scaleFactor=1.1, minNeighbors=5, minSize=(m, m))
    return [dict(x=int(x), y=int(y), w=int(w), h=int(h)) for (x, y, w, h) in r]

def yunet(img):
    d = cv2.FaceDetectorYN.create(yunet_model, "", (img.shape[1], img.shape[0]), 0.6)
    _, r = d.detect(img)
    if r is None:
        return []
    return [dict(x=int(round(f[0])), y=int(round(f[1])), w=int(round(f[2])), h=int(round(f[3])),
                 score=round(float(f[14]), 3)) for f in r]

def boxes(img):
    b = dict(haar_faces=haar(img))
    if have_yunet:
        b["faces"] = yunet(img)
        b["detector"] = "yunet_2022mar"
    else:
        b["faces"] = b["haar_faces"]
        b["detector"] = "haar_frontalface_default"
    return b

doc = {
    "_comment": "Face boxes (x, y, w, h in pixels of the still, or of frame 0 of a clip at its "
                "native size), measured once by make-samples.sh with OpenCV 4.6: `faces` by "
                "`detector`, `haar_faces` by the stock Haar frontal-face cascade. Detectors "
                "and scalers move boxes by a few pixels and YuNet boxes are taller (forehead "
                "to chin) than Haar's: treat a detected box as matching a listed one when "
                "their IoU is >= tolerance_iou or the detected centre lies inside it. "
                "Clips zoom in slowly (about 1.2x by the end) around the upper middle, so "
                "later frames have the face larger and slightly displaced.",
    "tolerance_iou": 0.4,
    "sample_key": "lockpipesample16",
    "samples": {},
}
for name in ["astronaut.jpg", "camera.jpg", "noface.jpg"]:
    img = cv2.imread(f"{out}/{name}", cv2.IMREAD_COLOR)
    doc["samples"][name] = dict(kind="still", width=img.shape[1], height=img.shape[0], **boxes(img))
for name in ["astronaut_360p_faststart.mp4", "astronaut_720p_moov_end.mp4", "camera_360p.mp4"]:
    cap = cv2.VideoCapture(f"{out}/{name}")
    ok, img = cap.read()
    if not ok:
        sys.exit(f"cannot read frame 0 of {name}")
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    doc["samples"][name] = dict(kind="clip", width=img.shape[1], height=img.shape[0],
                                frames=n, fps=25, frame0=boxes(img))
for name, s in doc["samples"].items():
    s["encrypted"] = name.rsplit(".", 1)[0] + ".enc"
with open(f"{out}/faces.json", "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
EOF
chmod 644 "$OUT"/*
du -ch "$OUT"/* | tail -n 1
