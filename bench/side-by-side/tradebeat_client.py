"""tradebeat's side of the side-by-side bench (`run.sh`): the daemon as a process, driven
over its control socket with JSON-RPC lines written directly (no `tradebeat ctl` process is
spawned, so none is counted). Standard library only.
"""

import json
import os
import socket
import subprocess
import time


class RpcError(Exception):
    pass


class Rpc:
    """One control-socket connection: one request line, one response line."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")
        self.next_id = 0

    def call(self, method, params=None):
        self.next_id += 1
        request = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            request["params"] = params
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        line = self.file.readline()
        if not line:
            raise RpcError(f"{method}: connection closed")
        response = json.loads(line)
        if "error" in response:
            raise RpcError(f"{method}: {response['error']}")
        return response["result"]

    def close(self):
        self.file.close()
        self.sock.close()


class Daemon:
    """`tradebeat run` in a fresh directory, configured by environment variables."""

    def __init__(self, exe, directory, sim_url, symbols, intervals, backfill_days,
                 key=None, secret=None, paper=False):
        self.dir = directory
        self.socket = os.path.join(directory, "control.sock")
        env = dict(os.environ)
        env.update({
            "TRADEBEAT_EXCHANGE__REST_URL": sim_url,
            "TRADEBEAT_EXCHANGE__WS_URL": sim_url.replace("http://", "ws://", 1),
            "TRADEBEAT_EXCHANGE__WS_API_URL": sim_url.replace("http://", "ws://", 1)
            + "/ws-api/v3",
            # One scheduled beat an hour: every beat measured is asked for (`sync.now`).
            "TRADEBEAT_HEARTBEAT__PERIOD_SECS": "3600",
            "TRADEBEAT_HEARTBEAT__OFFSET_SECS": "1800",
            "TRADEBEAT_MARKET_DATA__SYMBOLS": json.dumps(symbols),
            "TRADEBEAT_MARKET_DATA__INTERVALS": json.dumps(intervals),
            "TRADEBEAT_MARKET_DATA__BACKFILL_DAYS": str(backfill_days),
            "TRADEBEAT_STORAGE__DATABASE": os.path.join(directory, "tradebeat.db"),
            "TRADEBEAT_CONTROL__SOCKET": self.socket,
            "TRADEBEAT_LOGGING__DIR": os.path.join(directory, "logs"),
            "TRADEBEAT_LOGGING__LEVEL": "warn",
        })
        env.pop("RUST_LOG", None)
        # As systemd/tradebeat.service runs it: glibc's malloc arenas capped at 2, its trim
        # threshold fixed.
        env["MALLOC_ARENA_MAX"] = "2"
        env["GLIBC_TUNABLES"] = "glibc.malloc.trim_threshold=131072"
        if paper:
            # Paper trading: no key, orders filled against the simulator's public book.
            env["TRADEBEAT_PAPER__ENABLED"] = "true"
            env["TRADEBEAT_PAPER__STARTING_BALANCES"] = '{USDT="100000000", BTC="100"}'
        if key:
            env["TRADEBEAT_EXCHANGE__API_KEY"] = key
            env["TRADEBEAT_EXCHANGE__API_SECRET"] = secret
        self.spawned = time.perf_counter()
        self.proc = subprocess.Popen([exe, "run"], cwd=directory, env=env,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(directory, "stderr"), "wb"))

    def wait_ready(self, timeout=60.0):
        """Seconds from spawn until `status` is answered with the startup beat done."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tradebeat exited {self.proc.returncode}; see "
                                   f"{self.dir}/stderr")
            try:
                rpc = Rpc(self.socket)
            except OSError:
                time.sleep(0.001)
                continue
            try:
                status = rpc.call("status")
            finally:
                rpc.close()
            if status.get("last_beat"):
                return time.perf_counter() - self.spawned
            time.sleep(0.001)
        raise RuntimeError("tradebeat did not become ready")

    def rss_kb(self):
        fields = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    name, value = line.split(":")
                    fields[name] = int(value.split()[0])
        return fields

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
