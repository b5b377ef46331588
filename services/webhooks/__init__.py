"""The Twilio edge: signed webhooks in, TwiML out.

- `twilio`: the webhook routes, turning Twilio's form fields into the service's requests;
- `signature`: `X-Twilio-Signature` checks; `urls`: the public URLs Twilio is given;
- `replies`: a retried webhook gets its first answer; `twiml`: the TwiML documents.
"""
