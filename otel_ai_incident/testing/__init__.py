"""Evaluation generators shared by tests and benchmarks: seeded, labelled PII replies (`pii_cases`) and agent
tool-call traffic with injected misuse (`anomaly_sim`).

Nothing an app runs imports this package (a test keeps it so); it lives in the package so that tests,
benchmarks and users measuring their own configuration import it the same way.
"""
