"""Traffic with ground truth for a served fraud model, and its prediction metrics for Prometheus.

It sends batches of transactions to the model on MLServer (V2 protocol), compares each
prediction with the truth (a transaction is fraud when its amount is above 0.5), and serves the
counters of docs/metrics-contract.md on ``/metrics``:

- ``model_predictions_total{model}``: predictions received;
- ``model_prediction_errors_total{model}``: predictions that were wrong;
- ``model_serving_up{model}``: 1 when the last request was answered, else 0.

So its error rate is the served version's: the good version is never wrong, a bad one is.

With ``--query-api`` it also answers ``/api/v1/query`` for the recorded series of the contract
(``model:prediction_errors:ratio_rate1m`` and ``..._rate5m``, ``model:predictions:rate1m`` and
``..._rate5m``, optionally ``{model="..."}``), computed from its own counts: what the demo uses
in place of Prometheus when Prometheus is not installed. Standard library only::

    python exporter.py --serving http://127.0.0.1:8081 --model fraud-detector --port 9105
"""

from __future__ import annotations

import argparse
import json
import math
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: One batch: amounts 0.05, 0.15 ... 0.95; half of them are fraud.
AMOUNTS = [round(0.05 + 0.1 * i, 2) for i in range(10)]
#: The recorded series the query API answers: name, optional {model="..."}.
SERIES = re.compile(
    r"^model:(?P<what>prediction_errors:ratio_rate|predictions:rate)(?P<window>1m|5m)"
    r'(\{model="(?P<model>[^"]*)"\})?$'
)
WINDOWS = {"1m": 60.0, "5m": 300.0}


class Counters:
    def __init__(self, model: str) -> None:
        self.model = model
        self.predictions = 0
        self.errors = 0
        self.up = 0
        self.lock = threading.Lock()
        #: (time, predictions, errors) after each batch, for the query API's windows.
        self.history: deque[tuple[float, int, int]] = deque(maxlen=20_000)

    def record(self, predictions: int, errors: int) -> None:
        with self.lock:
            self.predictions += predictions
            self.errors += errors
            self.up = 1
            self.history.append((time.time(), self.predictions, self.errors))

    def over(self, window_s: float) -> tuple[float, float]:
        """Predictions and errors per second over the last ``window_s`` (0, 0 without data)."""
        with self.lock:
            if len(self.history) < 2:
                return 0.0, 0.0
            now = self.history[-1]
            start = next((h for h in self.history if h[0] >= now[0] - window_s), self.history[0])
            span = now[0] - start[0]
            if span <= 0:
                return 0.0, 0.0
            return (now[1] - start[1]) / span, (now[2] - start[2]) / span

    def query(self, expr: str) -> dict[str, Any]:
        found = SERIES.match(expr.replace(" ", ""))
        if found is None:
            raise ValueError(
                f"only the recorded series of the metric contract are answered here, not {expr!r}"
            )
        if found["model"] not in (None, self.model):
            return {"resultType": "vector", "result": []}
        predictions, errors = self.over(WINDOWS[found["window"]])
        if found["what"] == "predictions:rate":
            value = predictions
        else:
            value = errors / predictions if predictions else math.nan
        sample = {"metric": {"model": self.model}, "value": [time.time(), _number(value)]}
        return {"resultType": "vector", "result": [sample]}

    def render(self) -> str:
        labels = f'{{model="{self.model}"}}'
        with self.lock:
            return (
                "# HELP model_predictions_total Predictions received from the served model.\n"
                "# TYPE model_predictions_total counter\n"
                f"model_predictions_total{labels} {self.predictions}\n"
                "# HELP model_prediction_errors_total Predictions that disagreed with the truth.\n"
                "# TYPE model_prediction_errors_total counter\n"
                f"model_prediction_errors_total{labels} {self.errors}\n"
                "# HELP model_serving_up 1 when the serving layer answered the last request.\n"
                "# TYPE model_serving_up gauge\n"
                f"model_serving_up{labels} {self.up}\n"
            )


def _number(value: float) -> str:
    return "NaN" if math.isnan(value) else repr(float(value))


def predict(serving: str, model: str, timeout_s: float) -> list[float]:
    body = {"inputs": [{"name": "amount", "shape": [len(AMOUNTS)], "datatype": "FP64", "data": AMOUNTS}]}
    request = urllib.request.Request(  # noqa: S310 (the URL is the operator's own serving)
        f"{serving.rstrip('/')}/v2/models/{model}/infer",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
        answer = json.loads(response.read())
    return [float(v) for v in answer["outputs"][0]["data"]]


def send_traffic(args: argparse.Namespace, counters: Counters, stop: threading.Event) -> None:
    truth = [1.0 if amount > 0.5 else 0.0 for amount in AMOUNTS]
    while not stop.is_set():
        started = time.monotonic()
        try:
            predictions = predict(args.serving, args.model, args.timeout)
        except (OSError, urllib.error.URLError, ValueError, KeyError, IndexError):
            with counters.lock:
                counters.up = 0
        else:
            wrong = sum(1 for p, t in zip(predictions, truth, strict=True) if p != t)
            counters.record(len(predictions), wrong)
        stop.wait(max(0.0, 1 / args.rate - (time.monotonic() - started)))


def handler(counters: Counters, query_api: bool) -> type[BaseHTTPRequestHandler]:
    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path == "/metrics":
                self._send(200, counters.render().encode(), "text/plain; version=0.0.4")
            elif query_api and path == "/api/v1/query":
                expr = urllib.parse.parse_qs(query).get("query", [""])[0]
                try:
                    body = {"status": "success", "data": counters.query(expr)}
                except ValueError as exc:
                    body = {"status": "error", "errorType": "bad_data", "error": str(exc)}
                    self._send(400, json.dumps(body).encode(), "application/json")
                    return
                self._send(200, json.dumps(body).encode(), "application/json")
            elif query_api and path == "/api/v1/status/buildinfo":
                body = {"status": "success", "data": {"version": "fraud-model exporter"}}
                self._send(200, json.dumps(body).encode(), "application/json")
            else:
                self.send_error(404)

        def _send(self, status: int, payload: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serving", required=True, help="MLServer base URL")
    parser.add_argument("--model", default="fraud-detector")
    parser.add_argument("--port", type=int, default=9105)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--rate", type=float, default=5.0, help="batches of 10 per second")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--query-api", action="store_true", help="answer /api/v1/query (see above)")
    args = parser.parse_args()
    counters = Counters(args.model)
    stop = threading.Event()
    threading.Thread(target=send_traffic, args=(args, counters, stop), daemon=True).start()
    server = ThreadingHTTPServer((args.host, args.port), handler(counters, args.query_api))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()


if __name__ == "__main__":
    main()
