/** The examples, bundled as text by scripts/bundle-web.mjs (loader: text). */
declare module '*.yaml' {
  const text: string;
  export default text;
}
