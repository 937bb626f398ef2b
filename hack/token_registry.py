#!/usr/bin/env python3
"""A registry front for kcr's pull tests, on 127.0.0.1 only (stdlib).

It serves the OCI distribution API of an upstream registry (the local
docker-registry) the way public registries do, with what Debian's
docker-registry cannot show:

- bearer tokens: /v2/ answers 401 with a `Bearer realm=...` challenge; the
  token endpoint gives anonymous tokens, user tokens for Basic credentials
  (kcr / kcr-test), and OAuth2 tokens for a refresh token (POST,
  grant_type=refresh_token, refresh_token=kcr-refresh); the registry token
  "kcr-registry-token" is accepted as it is;
- private repositories: "private/<repo>" needs a non-anonymous token and is
  <repo> upstream;
- blob storage elsewhere: a blob GET is redirected (307) to /storage/...;
- transient failures: the first GET of each blob answers 503.

GET /stats gives counters (JSON) for the tests to check what happened,
among them the downloads of each blob digest.

  token_registry.py PORT UPSTREAM   # e.g. 5003 http://127.0.0.1:5000
"""
import base64
import json
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USER, PASSWORD, REFRESH, REGISTRY_TOKEN = "kcr", "kcr-test", "kcr-refresh", "kcr-registry-token"
TOKENS = {"tok-anonymous": False, "tok-user": True, "tok-oauth": True, REGISTRY_TOKEN: True}  # -> may read private

lock = threading.Lock()
stats = {"challenges": 0, "tokens": {}, "unavailable": 0, "redirects": 0, "blob_downloads": {}}
failed_once = set()


def count(key, sub=None):
    with lock:
        if sub is None:
            stats[key] += 1
        else:
            stats[key][sub] = stats[key].get(sub, 0) + 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = ""

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body=b"", headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def token_reply(self, token):
        count("tokens", token)
        self.reply(200, json.dumps({"token": token, "access_token": token}).encode(),
                   {"Content-Type": "application/json"})

    def do_POST(self):
        if not self.path.startswith("/token"):
            return self.reply(404)
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode())
        if form.get("grant_type") == ["refresh_token"] and form.get("refresh_token") == [REFRESH]:
            return self.token_reply("tok-oauth")
        self.reply(401, b'{"errors":[{"code":"DENIED","message":"bad refresh token"}]}')

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path == "/stats":
            with lock:
                return self.reply(200, json.dumps(stats).encode(), {"Content-Type": "application/json"})
        if url.path == "/token":
            auth = self.headers.get("Authorization", "")
            if not auth:
                return self.token_reply("tok-anonymous")
            if auth == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode():
                return self.token_reply("tok-user")
            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
        if url.path.startswith("/storage/"):
            count("blob_downloads", url.path.rsplit("/", 1)[-1])  # per digest
            return self.proxy("/v2/" + url.path[len("/storage/"):])
        if not url.path.startswith("/v2/"):
            return self.reply(404)
        path = url.path
        private = path.startswith("/v2/private/")
        if private:
            path = "/v2/" + path[len("/v2/private/"):]
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in TOKENS or (private and not TOKENS[token]):
            count("challenges")
            repo = url.path[4:].split("/manifests/")[0].split("/blobs/")[0]
            host = self.headers.get("Host")
            challenge = (f'Bearer realm="http://{host}/token",service="kcr-test",'
                         f'scope="repository:{repo}:pull"')
            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {"WWW-Authenticate": challenge})
        if "/blobs/" in path:
            with lock:
                first = path not in failed_once
                failed_once.add(path)
            if first:
                count("unavailable")
                return self.reply(503, b"try again")
            count("redirects")
            return self.reply(307, b"", {"Location": "/storage/" + path[len("/v2/"):]})
        self.proxy(path)

    do_HEAD = do_GET

    def proxy(self, path):
        req = urllib.request.Request(self.upstream + path, method=self.command)
        if self.headers.get("Accept"):
            req.add_header("Accept", self.headers["Accept"])
        try:
            with urllib.request.urlopen(req) as r:
                body = r.read()
                headers = {k: v for k, v in r.headers.items()
                           if k in ("Content-Type", "Docker-Content-Digest")}
                self.reply(r.status, body, headers)
        except urllib.error.HTTPError as e:
            self.reply(e.code, e.read(), {"Content-Type": "application/json"})


def main():
    port, upstream = int(sys.argv[1]), sys.argv[2].rstrip("/")
    Handler.upstream = upstream
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"token registry on 127.0.0.1:{port} -> {upstream}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
