"""What a build shipped and what it cost: sizes by stage, layer and path, and findings."""
