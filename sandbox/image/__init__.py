"""The sandbox image: a Dockerfile for machines that can pull, an offline builder otherwise."""
