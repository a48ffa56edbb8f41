"""One cold process, as Lambda starts it: import the handler, handle one event, report, exit.

Run as a script (standard library only, so it adds nothing to what it measures):

    python cold_process.py MARKER_FD floor
    python cold_process.py MARKER_FD MODULE.FUNCTION TIMEOUT_SECONDS < event.json

It writes "imported" and then "handled" on MARKER_FD as soon as each step is done; the parent
timestamps them (the process's stdout is the handler's logs). `floor` imports only what any such
function pays for: boto3, pydantic and Powertools.
"""

import importlib
import json
import os
import sys
import time
import uuid


class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name = "cold-start"
    function_version = "$LATEST"
    memory_limit_in_mb = "512"
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:cold-start"
    log_group_name = "/aws/lambda/cold-start"
    log_stream_name = "cold-start"

    def __init__(self, timeout_seconds: float) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> int:
    marker_fd, target = int(sys.argv[1]), sys.argv[2]
    with os.fdopen(marker_fd, "w", buffering=1) as markers:
        if target == "floor":
            for module in ("boto3", "pydantic", "aws_lambda_powertools"):
                importlib.import_module(module)
            markers.write("imported\nhandled\n")
            return 0
        module_name, function_name = target.rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), function_name)
        markers.write("imported\n")
        event = json.load(sys.stdin)
        response = handler(event, LambdaContext(float(sys.argv[3])))
        failed = isinstance(response, dict) and (response.get("batchItemFailures")
                                                 or response.get("statusCode", 200) >= 400)
        markers.write("failed\n" if failed else "handled\n")
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
