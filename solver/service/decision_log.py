"""The decision log, like OPA's: one JSON line per decision, to a file or standard error.

A line holds the decision id, its time, payer, date of service, outcome, the ids of the rules that found
something, the policy version hash and the sha256 of the input record (its canonical JSON as validated).
No patient data by default: the encounter and its id (an account number may be one) are logged only with
--log-inputs."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import threading
import uuid


def canonical(encounter) -> str:
    """The canonical JSON of a validated encounter: what input_sha256 is the hash of."""
    return json.dumps(encounter.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def input_hash(encounter) -> str | None:
    return None if encounter is None else "sha256:" + hashlib.sha256(canonical(encounter).encode()).hexdigest()


class DecisionLog:
    def __init__(self, path: str | None = None, log_inputs: bool = False):
        self.log_inputs = log_inputs
        self._own = path not in (None, "-")
        self._stream = open(path, "a", encoding="utf-8", buffering=1) if self._own else sys.stderr
        self._lock = threading.Lock()

    def record(self, result: dict, sha: str | None, encounter_json: dict | None) -> dict:
        """Log one decision; returns {"id", "time"}, the key the result carries."""
        decision = {"id": uuid.uuid4().hex, "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")}
        policy = result.get("policy") or {}
        line = {"decision_id": decision["id"], "time": decision["time"], "payer": result.get("payer"),
                "date_of_service": result.get("date_of_service"), "outcome": result.get("outcome"),
                "rules": sorted({f["rule"] for f in result.get("findings", []) if f.get("rule")}),
                "policy_version": policy.get("version"), "input_sha256": sha}
        if result.get("outcome") == "error":
            line["error_fields"] = sorted({e["field"] for e in result.get("errors", [])})
        if self.log_inputs:
            line["encounter"] = result.get("encounter")
            line["input"] = encounter_json
        text = json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n"
        with self._lock:
            self._stream.write(text)
            self._stream.flush()
        return decision

    def close(self) -> None:
        if self._own:
            self._stream.close()
