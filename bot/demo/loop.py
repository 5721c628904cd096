"""The demo's story, told as it happens: page → incident → rollback awaiting approval → approved
by a second person → alias and served version back → verified over a window → mitigated →
alert resolved → resolved by a person → postmortem → undo.

Everything is read back from the systems' own APIs (the bot's, MLflow's, MLServer's) and
printed with the time since the demo started. Without Prometheus and Alertmanager the demo
posts the Alertmanager webhook itself, saying so.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bot.demo import configs
from bot.demo.stack import Stack
from bot.errors import UnavailableError
from bot.runbook.explain import explain

Say = Callable[[str], None]
Ask = Callable[[str], Awaitable[bool]]
#: Amounts whose predictions tell the versions apart (v1 flags only 0.9; v2 flags 0.3 too).
PROBE = [0.05, 0.3, 0.9]


@dataclass
class Loop:
    stack: Stack
    workdir: Path
    timing: configs.Timing
    say: Say
    #: None when stdin is not a terminal: bob approves by himself.
    ask: Ask | None
    undo: bool = True
    #: Everything keeps running after the story (the URLs it prints stay valid).
    keep: bool = False

    def __post_init__(self) -> None:
        self.client = httpx.AsyncClient(base_url=self.stack.bot, timeout=30)

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- the bot's API, as alice or bob -------------------------------------------------------

    async def _call(self, method: str, path: str, who: str = configs.REQUESTER, body: Any = None) -> Any:
        token = self.stack.people[who]
        response = await self.client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        if response.status_code >= 400:
            raise UnavailableError(
                f"the bot answered {response.status_code} to {method} {path}: {response.text}"
            )
        return response.json()

    async def _until(self, check: Callable[[], Awaitable[Any]], timeout_s: float, what: str) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                found = await check()
            except (httpx.HTTPError, UnavailableError):
                found = None
            if found:
                return found
            await asyncio.sleep(0.5)
        raise UnavailableError(
            f"{what} did not happen within {timeout_s:g}s", hint=f"see the logs in {self.workdir / 'logs'}"
        )

    async def _timeline(self, kind: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = await self._call("GET", "/api/v1/incidents/INC-1/timeline")
        return [e for e in events if e["kind"] == kind]

    # -- the real systems ---------------------------------------------------------------------

    async def _served(self) -> str:
        body = {"inputs": [{"name": "amount", "shape": [len(PROBE)], "datatype": "FP64", "data": PROBE}]}
        response = await self.client.post(f"{self.stack.mlserver}/v2/models/{configs.MODEL}/infer", json=body)
        answers = [float(v) for v in response.json()["outputs"][0]["data"]]
        return self.stack.good if answers == [0.0, 0.0, 1.0] else self.stack.bad

    async def _champion(self) -> str:
        response = await self.client.get(
            f"{self.stack.mlflow}/api/2.0/mlflow/registered-models/alias",
            params={"name": configs.MODEL, "alias": configs.ALIAS},
        )
        return str(response.json()["model_version"]["version"])

    async def _error_ratio(self) -> float | None:
        """The 1-minute error ratio, from Prometheus or the exporter's query API."""
        source = self.stack.prometheus or self.stack.exporter
        expr = f'model:prediction_errors:ratio_rate1m{{model="{configs.MODEL}"}}'
        response = await self.client.get(f"{source}/api/v1/query", params={"query": expr})
        result = response.json()["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    async def _webhook(self, status: str, started_at: str, ratio: float) -> None:
        ended = datetime.now(UTC).isoformat() if status == "resolved" else None
        response = await self.client.post(
            "/webhooks/alertmanager",
            json=configs.alertmanager_webhook(status, started_at, ended, ratio),
            auth=(configs.WEBHOOK_USER, self.stack.webhook_password),
        )
        if response.status_code != 202:
            raise UnavailableError(f"the webhook was refused: {response.status_code} {response.text}")

    # -- the story ----------------------------------------------------------------------------

    async def run(self) -> None:
        started_at = datetime.now(UTC).isoformat()
        incident = await self._page(started_at)
        self.say(
            f"INC-1 opened: {incident['title']} — {incident['severity']} from routing rule fraud-page; "
            f"it suggests {', '.join(incident['suggested_runbooks'])}"
        )
        ref = await self._request()
        if not await self._approve(ref):
            return
        await self._watch(ref)
        await self._mitigated()
        await self._resolved_alert(started_at)
        await self._call("PATCH", "/api/v1/incidents/INC-1", configs.REQUESTER, {"status": "resolved"})
        self.say("alice resolved INC-1")
        postmortem = await self._postmortem()
        if self.undo:
            await self._undo(ref)
        self._where_to_look(ref, postmortem)

    async def _page(self, started_at: str) -> dict[str, Any]:
        if self.stack.prometheus is not None:
            self.say("waiting for Prometheus to fire ModelPredictionErrorsHigh (errors above 5 %) ...")
        else:
            ratio = await self._until(self._error_ratio, 30, "the first error-rate reading")
            self.say(
                f"Prometheus and Alertmanager are {self.stack.without_monitoring}: the demo posts the "
                f"Alertmanager webhook itself (error rate {ratio:.0%}, with the basic auth "
                "Alertmanager would use) and the exporter answers the error-rate query"
            )
            await self._webhook("firing", started_at, ratio)
        incident: dict[str, Any] = await self._until(
            lambda: self._call("GET", "/api/v1/incidents/INC-1"), 120, "the page"
        )
        return incident

    async def _request(self) -> str:
        # Both are on call (the page's responders), so each may take an empty role.
        await self._call(
            "POST",
            "/api/v1/incidents/INC-1/roles",
            configs.APPROVER,
            {"role": "commander", "assignee": configs.APPROVER},
        )
        await self._call(
            "POST",
            "/api/v1/incidents/INC-1/roles",
            configs.REQUESTER,
            {"role": "operations", "assignee": configs.REQUESTER},
        )
        await self._call("POST", "/api/v1/incidents/INC-1/acknowledge")
        self.say("alice acknowledged INC-1: she is on call (operations lead); bob took the commander role")
        body = {
            "runbook": "rollback-model",
            "incident": "INC-1",
            "inputs": configs.rollback_inputs(self.timing),
        }
        run = await self._call("POST", "/api/v1/runs", configs.REQUESTER, body)
        self.say(f"alice asked for {run['ref']} (rollback-model); it awaits one approval. The plan:")
        for step in run["plan"] or []:
            self.say(f"    {step['step']}: {step['summary'] or step['error']}")
            why = explain(step.get("details"))
            if why:
                self.say(f"        {why}")
        return str(run["ref"])

    async def _approve(self, ref: str) -> bool:
        if self.ask is None:
            self.say(f"stdin is not a terminal: bob, the second demo person, approves {ref} by himself")
        elif not await self.ask(f"You are bob, the incident commander. Approve {ref}? [y/N] "):
            await self._call(
                "POST", f"/api/v1/runs/{ref}/deny", configs.APPROVER, {"reason": "denied in the demo"}
            )
            self.say(f"bob denied {ref}: nothing changed. That is the end of this demo.")
            return False
        await self._call("POST", f"/api/v1/runs/{ref}/approve", configs.APPROVER)
        self.say(f"bob approved {ref} (four eyes: alice asked, bob approved)")
        return True

    async def _watch(self, ref: str) -> None:
        seen: set[tuple[str, str]] = set()

        async def finished() -> dict[str, Any] | None:
            run: dict[str, Any] = await self._call("GET", f"/api/v1/runs/{ref}")
            for step in run["steps"]:
                key = (step["step"], step["status"])
                if key not in seen and step["status"] in ("running", "succeeded", "failed"):
                    seen.add(key)
                    await self._narrate(step)
            return run if run["status"] not in ("pending", "running") else None

        window = self.timing.verify_for_s
        run = await self._until(finished, 120 + window + self.timing.serve_within_s, f"{ref}")
        if run["status"] != "succeeded":
            raise UnavailableError(f"{ref} {run['status']}: {run['error']}")
        self.say(f"{ref} succeeded")

    async def _narrate(self, step: dict[str, Any]) -> None:
        name, status = step["step"], step["status"]
        if status == "failed":
            self.say(f"    step {name} failed: {step['error']}")
        elif name == "rollback" and status == "succeeded":
            self.say(f"    {step['summary']} (MLflow now says champion → v{await self._champion()})")
        elif name == "serve" and status == "succeeded":
            self.say(f"    {step['summary']} (asked MLServer: it answers as v{await self._served()})")
        elif name == "verify" and status == "running":
            self.say(
                f"    verifying: the error rate must stay under 5 % for {self.timing.verify_for_s:g}s "
                "(the 1-minute ratio needs the bad predictions to leave its window first) ..."
            )
        elif name == "verify" and status == "succeeded":
            self.say(f"    {step['summary']}")

    async def _mitigated(self) -> None:
        moved = [e for e in await self._timeline("status_changed") if e["data"].get("to") == "mitigated"]
        reason = moved[-1]["data"].get("reason") if moved else "?"
        self.say(f"INC-1 mitigated by the verification: {reason}")

    async def _resolved_alert(self, started_at: str) -> None:
        if self.stack.prometheus is None:
            ratio = await self._until(self._below_threshold, 120, "the error rate under 5 %")
            self.say(f"the error rate is {ratio:.1%}: the demo posts the resolved notification itself")
            await self._webhook("resolved", started_at, ratio)
        else:
            self.say("waiting for Alertmanager to send the alert's resolution ...")
        await self._until(lambda: self._timeline("alerts_resolved"), 120, "the alert's resolution")
        self.say("the alert resolved on INC-1")

    async def _below_threshold(self) -> float | None:
        ratio = await self._error_ratio()
        return ratio if ratio is not None and ratio < 0.05 else None

    async def _postmortem(self) -> Path:
        token = self.stack.people[configs.REQUESTER]
        response = await self.client.get(
            "/api/v1/incidents/INC-1/postmortem", headers={"Authorization": f"Bearer {token}"}
        )
        path = self.workdir / "postmortem-INC-1.md"
        path.write_text(response.text)
        self.say(f"postmortem draft written to {path}")
        return path

    async def _undo(self, ref: str) -> None:
        requested = await self._call("POST", f"/api/v1/runs/{ref}/undo", configs.REQUESTER)
        self.say(f"alice asks to undo {ref} to show the way back ...")
        if requested["status"] == "awaiting_approval":
            # An undo moves the model again: it follows the run's approval policy.
            self.say(f"    the undo of {ref} awaits one approval, like the run did")
            if self.ask is not None and not await self.ask(f"You are bob. Approve the undo of {ref}? [y/N] "):
                await self._call(
                    "POST", f"/api/v1/runs/{ref}/deny", configs.APPROVER, {"reason": "denied in the demo"}
                )
                self.say(f"bob denied the undo: {ref} stays as it ended")
                return
            await self._call("POST", f"/api/v1/runs/{ref}/approve", configs.APPROVER)
            self.say(f"    bob approved the undo of {ref}")

        async def undone() -> dict[str, Any] | None:
            run: dict[str, Any] = await self._call("GET", f"/api/v1/runs/{ref}")
            return run if run["status"] in ("undone", "failed") else None

        run = await self._until(undone, 120, f"the undo of {ref}")
        if run["status"] != "undone":
            raise UnavailableError(f"the undo of {ref} failed: {run['error']}")
        self.say(
            f"{ref} undone: MLflow says champion → v{await self._champion()}, "
            f"MLServer answers as v{await self._served()} (the alias first, then the reload)"
        )

    def _where_to_look(self, ref: str, postmortem: Path) -> None:
        bot = self.stack.bot
        self.say("where to look:")
        self.say(
            f"    the API: {bot}/docs (tokens: {self.workdir / 'alice.token'}, {self.workdir / 'bob.token'})"
        )
        self.say(f"    the timeline: {bot}/api/v1/incidents/INC-1/timeline")
        self.say(f"    the run: {bot}/api/v1/runs/{ref}")
        self.say(f"    the postmortem draft: {postmortem}")
        self.say(f"    MLflow: {self.stack.mlflow}/#/models/{configs.MODEL}")
        self.say(f"    the logs of every process: {self.workdir / 'logs'}")
        if not self.keep:
            self.say("the servers stop now; `incident-bot demo --keep` leaves them running to look around")


def interactive() -> bool:
    return sys.stdin.isatty()
