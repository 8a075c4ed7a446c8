"""The detection engine cannot be killed by its input: every request line gets exactly one reply, malformed ones an
`error` event that says what is wrong (never "internal error"), and after hundreds of hostile lines the same
process still runs a real detection.

One engine process (`python -m sargasses engine`, as the plugin starts it) serves the whole module; lines are sent
one at a time and each reply is read before the next line goes, so a missing or extra reply shows at once.
"""

from __future__ import annotations

import json
import os
import queue
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from detect_helpers import bright_model, plant, water, write_scene

ROOT = Path(__file__).resolve().parents[2]
REPLY_TIMEOUT_S = 30.0
OPTION_NAMES = ["input", "output", "model", "method", "threshold", "min_area", "device", "bands", "extent"]
OPTION_NAMES += ["land", "overwrite", "quicklook", "simplify", "tile_size", "batch_size", "backend", "background"]


class EngineProcess:
    """The real engine as a subprocess, with its stdout read line by line on a thread."""

    def __init__(self, cwd: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.stderr = (cwd / "engine.stderr").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sargasses", "engine"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.events.put(json.loads(line))
        self.events.put(None)  # stdout closed: the engine ended

    def send(self, line: bytes) -> None:
        self.process.stdin.write(line + b"\n")
        self.process.stdin.flush()

    def next_event(self, timeout: float = REPLY_TIMEOUT_S) -> dict[str, Any]:
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no reply within {timeout} s") from None
        assert event is not None, f"the engine ended (exit {self.process.wait(5)}); see its stderr"
        return event

    def reply(self, line: bytes) -> dict[str, Any]:
        """Send one line and return its one reply (progress events of a detection are skipped)."""
        self.send(line)
        while (event := self.next_event())["event"] == "progress":
            pass
        return event

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self.stderr.close()


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Iterator[EngineProcess]:
    folder = tmp_path_factory.mktemp("engine")
    process = EngineProcess(folder)
    assert process.next_event(60)["event"] == "ready"
    yield process
    process.close()


def request(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


# Hostile lines, each with a piece of the message it must get and the id the reply must carry.
OPTIONS = {"input": "scene.tif", "output": "rafts.gpkg"}
CASES = {
    "invalid JSON": (b'{"id": 1, "cmd": ', "is not valid JSON", None),
    "not UTF-8": (b'{"id": 1, "cmd": "info\xff\xfe"}', "is not UTF-8 text (byte 0xff", None),
    "deep nesting": (b"[" * 100_000, "nests deeper than 16 levels", None),
    "nesting under the recursion limit": (b'{"id": 1, "x": ' + b"[" * 500 + b"]" * 500 + b"}", "nests deeper", None),
    "line over 1 MiB": (b'{"id": 1, "cmd": "info", "model": "' + b"x" * (2 << 20) + b'"}', "longer than", None),
    "not an object": (b"[1, 2, 3]", "must be a JSON object, not a list", None),
    "NaN": (b'{"id": 1, "cmd": "detect", "options": {"threshold": NaN}}', "NaN is not a JSON number", None),
    "id is a list": (request(id=[1], cmd="detect", options=OPTIONS), "'id' must be a string, an integer or null", None),
    "id is an object": (request(id={"a": 1}, cmd="cancel"), "'id' must be", None),
    "id is true": (request(id=True, cmd="cancel"), "'id' must be", None),
    "cancel target is a list": (request(id=5, cmd="cancel", target=[1]), "field 'target' of a cancel request", 5),
    "unknown command": (request(id=6, cmd="fly"), 'unknown command the string "fly"', 6),
    "command is a list": (request(id=7, cmd=["detect"]), "unknown command a list", 7),
    "no command": (request(id=8), "unknown command null", 8),
    "unknown field": (request(id=9, cmd="cancel", colour="red"), "has no field(s) 'colour'", 9),
    "no options": (request(id=10, cmd="detect"), "needs an 'options' object", 10),
    "options not an object": (request(id=11, cmd="detect", options="x"), "must be an object", 11),
    "options lack input": (request(id=12, cmd="detect", options={"output": "o.gpkg"}), "need 'input'", 12),
    "unknown option": (request(id=13, cmd="detect", options={**OPTIONS, "colour": 1}), "option(s) colour", 13),
    "threshold is a string": (
        request(id=14, cmd="detect", options={**OPTIONS, "threshold": "abc"}),
        "option 'threshold' must be a number or null, not the string \"abc\"",
        14,
    ),
    "min_area is a list": (
        request(id=15, cmd="detect", options={**OPTIONS, "min_area": []}),
        "option 'min_area' must be a number or null, not a list []",
        15,
    ),
    "extent of 3 numbers": (
        request(id=16, cmd="detect", options={**OPTIONS, "extent": [0, 0, 1]}),
        "option 'extent' must be a list of 4 numbers or null",
        16,
    ),
    "boolean for a number": (
        request(id=17, cmd="detect", options={**OPTIONS, "tile_size": True}),
        "option 'tile_size' must be an integer or null, not a boolean true",
        17,
    ),
    "number for a boolean": (
        request(id=18, cmd="detect", options={**OPTIONS, "overwrite": 1}),
        "option 'overwrite' must be true or false",
        18,
    ),
    "infinite number": (
        b'{"id": 19, "cmd": "detect", "options": {"input": "a", "output": "b", "min_area": 1e400}}',
        "is not a finite number",
        19,
    ),
    "bands not strings": (
        request(id=20, cmd="detect", options={**OPTIONS, "bands": ["B02", 3]}),
        "option 'bands' must be a list of strings or null",
        20,
    ),
    "input is a number": (request(id=21, cmd="detect", options={"input": 3, "output": "o"}), "'input' must be", 21),
    "info model is a number": (request(id=22, cmd="info", model=3), "field 'model' of an info request", 22),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_line_gets_one_error_that_says_why(engine: EngineProcess, name: str) -> None:
    line, message, rid = CASES[name]
    event = engine.reply(line)
    assert event["event"] == "error" and event["id"] == rid, event
    assert message in event["message"], event["message"]
    assert "internal error" not in event["message"] and "traceback" not in event


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 7, 2**70, 0.5, -3.25, 1e300])
    if kind in (3, 4):
        return "".join(rng.choice('ab/.é\\"\x00\u2028 ') for _ in range(rng.randrange(6)))
    if kind in (5, 6):
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = [*OPTION_NAMES, "id", "cmd", "options", "target", "x"]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def random_request(rng: random.Random, index: int) -> bytes:
    """A request-shaped object with random fields; never a valid `shutdown` (that would end the engine)."""
    fields: dict[str, Any] = {"id": rng.choice([index, f"r{index}", random_json(rng)])}
    fields["cmd"] = rng.choice(["detect", "cancel", "info", "fly", random_json(rng)])
    if fields["cmd"] == "detect":
        options = {name: random_json(rng) for name in rng.sample(OPTION_NAMES, rng.randrange(6))}
        fields["options"] = rng.choice([options, {**options, "input": "absent.tif", "output": "o.gpkg"}])
    if fields["cmd"] == "cancel" or rng.random() < 0.2:
        fields["target"] = random_json(rng)
    if fields["cmd"] == "info":
        fields["device"] = random_json(rng)  # seldom a valid device: spares the test torch's import
    return json.dumps(fields).encode()


def hostile_lines(seed: int = 12) -> list[bytes]:
    """Seeded random bytes, random JSON and random requests; none blank (blank lines get no reply)."""
    rng = random.Random(seed)
    lines = []
    for index in range(400):
        kind = index % 4
        if kind == 0:
            line = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))).replace(b"\n", b"")
        elif kind == 1:
            line = json.dumps(random_json(rng)).encode()
        else:
            line = random_request(rng, index)
        if kind == 3 and rng.random() < 0.3:  # cut short, or a byte flipped
            cut = rng.randrange(len(line))
            line = line[:cut] + bytes([rng.randrange(256)]) if rng.random() < 0.5 else line[:cut]
            line = line.replace(b"\n", b"")
        if line.strip():
            lines.append(line)
    return lines


def test_hundreds_of_random_lines_each_get_one_reply_and_a_real_detection_runs_after(
    engine: EngineProcess, tmp_path: Path
) -> None:
    lines = hostile_lines()
    assert len(lines) > 300
    for line in lines:
        event = engine.reply(line)
        assert event["event"] in ("error", "result", "cancelled"), (line[:200], event)
        assert "internal error" not in event.get("message", ""), (line[:200], event)
    assert engine.reply(request(id="probe", cmd="cancel", target="nothing"))["id"] == "probe"  # no reply left over
    assert engine.events.empty() and engine.process.poll() is None

    sea = water(96, 96, seed=3)
    raft = np.zeros((96, 96), bool)
    raft[40:46, 50:56] = True  # 36 pixels of 20 m x 20 m
    scene = write_scene(tmp_path / "scene.tif", plant(sea, [raft]))
    model = bright_model(tmp_path / "bright.sargasses")
    options = {"input": str(scene), "output": str(tmp_path / "rafts.gpkg"), "model": str(model), "device": "cpu"}
    event = engine.reply(request(id="real", cmd="detect", options=options))
    assert event["event"] == "result" and event["id"] == "real", event
    assert event["summary"]["rafts"] == 1 and event["summary"]["engine_pid"] == engine.process.pid
    assert (tmp_path / "rafts.gpkg").exists()
