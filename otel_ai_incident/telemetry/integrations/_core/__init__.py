"""The client-neutral part of every integration: the request and reply as a turn sees them, the turn and model
call lifecycle of one API call, and the streams that end it. No client SDK is imported here; each client's
module (`integrations.openai`, ...) translates its SDK's requests and replies into these shapes.
"""
