"""Your own photo: align it, project it into the latent space, paint it. Everything stays on this machine."""
