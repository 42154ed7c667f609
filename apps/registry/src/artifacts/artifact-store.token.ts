/** The configured artifact store (an ArtifactStore from @cairn/artifacts): model versions' files. */
export const ARTIFACT_STORE = Symbol('ARTIFACT_STORE');
