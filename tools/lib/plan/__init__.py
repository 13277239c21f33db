"""The plan a reviewer reads before a change set runs, in three parts.

- ``template``: templates as data, intrinsic functions resolved with parameters;
- ``diff``: what changes (parameters, properties, IAM widening, record drift);
- ``report``: the record of it all, as JSON and Markdown.
"""
