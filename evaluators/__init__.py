"""Trusted verifiers: simulators and scoring, one module per problem family."""
