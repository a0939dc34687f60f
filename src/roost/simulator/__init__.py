"""Roost's built-in simulator of Meta's side of Embedded Signup (test mode).

A separate ASGI app (`roost.simulator.app.create_simulator_app`) mounted at `/_sim`: the
JavaScript SDK and signup dialog, the Graph API, the webhook emitter and a control API.
Its state lives in Roost's database (`sim_` tables). Roost's core never imports it.
"""
