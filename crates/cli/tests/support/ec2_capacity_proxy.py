"""An EC2 endpoint in front of moto that answers RunInstances of one launch
template with EC2's capacity error, as EC2 does when a zone has none of an
instance type left; every other request goes to moto unchanged.

    python ec2_capacity_proxy.py PORT MOTO_URL FAULT_FILE

While FAULT_FILE exists, a RunInstances whose LaunchTemplateName is the
file's first line is refused (HTTP 500, Code InsufficientInstanceCapacity);
each refusal appends a line to FAULT_FILE + ".hits".
"""

import http.server
import sys
import urllib.parse
import urllib.request

PORT, MOTO, FAULT = int(sys.argv[1]), sys.argv[2].rstrip("/"), sys.argv[3]

ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Response><Errors><Error><Code>InsufficientInstanceCapacity</Code>"
    "<Message>We currently do not have sufficient capacity in the Availability Zone "
    "you requested (us-east-1a).</Message></Error></Errors>"
    "<RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"
).encode()


def refused_template():
    try:
        with open(FAULT) as f:
            return f.readline().strip() or None
    except FileNotFoundError:
        return None


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self, body):
        req = urllib.request.Request(
            MOTO + self.path, data=body, method=self.command,
            headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
        )
        try:
            resp = urllib.request.urlopen(req, timeout=60)
            status, data, headers = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as e:
            status, data, headers = e.code, e.read(), e.headers
        self.reply(status, data, headers.get("Content-Type", "text/xml"))

    def reply(self, status, data, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        form = urllib.parse.parse_qs(body.decode(errors="replace"))
        template = refused_template()
        if (
            template
            and form.get("Action") == ["RunInstances"]
            and form.get("LaunchTemplate.LaunchTemplateName") == [template]
        ):
            with open(FAULT + ".hits", "a") as f:
                f.write(template + "\n")
            self.reply(500, ERROR, "text/xml")
            return
        self.forward(body)

    def do_GET(self):
        self.forward(None)


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Proxy).serve_forever()
