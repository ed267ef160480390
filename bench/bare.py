"""The baseline for ``bench/webhooks.py``: a bare Flask app that answers every POST with a fixed TwiML.

No database, no signature check, no form parsing: what gunicorn, Werkzeug and Flask cost on their
own. The answer is a ``<Gather>`` about the size of a real menu turn, whose ``action`` is the Twilio
voice URL, so the load generator follows it exactly as it follows the app's answers.

    gunicorn --bind 127.0.0.1:8001 'bench.bare:app'
"""

from __future__ import annotations

from flask import Flask, Response

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<Gather action="https://kalanso.example.org/ivr/twilio/voice?ev=gather" actionOnEmptyResult="true" '
    'finishOnKey="" input="dtmf" method="POST" numDigits="1" timeout="6">'
    '<Say language="fr-FR" voice="Polly.Lea">Vous avez choisi le français.</Say>'
    '<Say language="fr-FR" voice="Polly.Lea">Pour choisir un cours, tapez 2. Pour écouter vos progrès, tapez 3. '
    "Pour changer de langue, tapez 4. Pour ne plus être appelé, tapez 9.</Say></Gather>"
    '<Redirect method="POST">https://kalanso.example.org/ivr/twilio/voice?ev=timeout</Redirect></Response>'
)

app = Flask(__name__)


@app.post("/", defaults={"path": ""})
@app.post("/<path:path>")
def fixed_twiml(path: str) -> Response:
    return Response(TWIML, mimetype="text/xml")
