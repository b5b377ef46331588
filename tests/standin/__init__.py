"""Tests of the local Twilio stand-in (call player + REST API)."""
