"""Troposphere stack classes and their rendered, committed CloudFormation YAML."""
