"""The baseline for bench/ingest/http.py: a bare Flask app with the two answers Ibex's tracking
endpoints give (the 43-byte GIF of /count, a small JSON like /api/collect's), served by the same
`gunicorn -c gunicorn.conf.py` as Ibex. Deliberately imports nothing from Ibex."""
from flask import Flask, Response, jsonify

GIF = bytes.fromhex("47494638396101000100800100000000ffffff21f904010a0001002c00000000010001"
                    "000002024c01003b")

app = Flask(__name__)


@app.route("/gif", methods=["GET"])
def gif():
    return Response(GIF, mimetype="image/gif")


@app.route("/json", methods=["GET", "POST"])
def small_json():
    return jsonify(ok=True)
