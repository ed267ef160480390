"""Flask commands that span several areas (content checks that ask the voice and SMS lines; the development server)."""
