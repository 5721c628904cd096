"""Traffic with ground truth for a served fraud model, and its prediction metrics for Prometheus.

It sends batches of transactions to the model on MLServer (V2 protocol), compares each
prediction with the truth (a transaction is fraud when its amount is above 0.5), and serves the
counters of docs/metrics-contract.md on ``/metrics``:

- ``model_predictions_total{model}``: predictions received;
- ``model_prediction_errors_total{model}``: predictions that were wrong;
- ``model_serving_up{model}``: 1 when the last request was answered, else 0.

So its error rate is the served version's: the good version is never wrong, a bad one is.
Standard library only::

    python exporter.py --serving http://127.0.0.1:8081 --model fraud-detector --port 9105
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: One batch: amounts 0.05, 0.15 ... 0.95; half of them are fraud.
AMOUNTS = [round(0.05 + 0.1 * i, 2) for i in range(10)]


class Counters:
    def __init__(self, model: str) -> None:
        self.model = model
        self.predictions = 0
        self.errors = 0
        self.up = 0
        self.lock = threading.Lock()

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
            with counters.lock:
                counters.up = 1
                counters.predictions += len(predictions)
                counters.errors += wrong
        stop.wait(max(0.0, 1 / args.rate - (time.monotonic() - started)))


def handler(counters: Counters) -> type[BaseHTTPRequestHandler]:
    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            payload = counters.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
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
    args = parser.parse_args()
    counters = Counters(args.model)
    stop = threading.Event()
    threading.Thread(target=send_traffic, args=(args, counters, stop), daemon=True).start()
    server = ThreadingHTTPServer((args.host, args.port), handler(counters))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()


if __name__ == "__main__":
    main()
