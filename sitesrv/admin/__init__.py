"""What a person or their script does with a lab: build it, run it, act as the SMS
Administrator console does, and look at what happened (status, journeys, the site tree)."""
