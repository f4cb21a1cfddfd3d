import { expect } from 'chai';
import { checkBaseUrl, isMetadataHost } from '../../src/domain/base-url.js';

describe('checkBaseUrl', () => {
  const accepted: Array<[string, string]> = [
    ['https://api.openai.com/v1', 'https://api.openai.com/v1'],
    ['https://api.openai.com/v1/', 'https://api.openai.com/v1'],
    ['https://api.anthropic.com/', 'https://api.anthropic.com'],
    ['https://generativelanguage.googleapis.com', 'https://generativelanguage.googleapis.com'],
    ['  HTTPS://API.Example.COM:443/v1//  ', 'https://api.example.com/v1'],
    ['http://localhost:11434/v1', 'http://localhost:11434/v1'],
    ['http://127.0.0.1:8000/v1/', 'http://127.0.0.1:8000/v1'],
    ['http://10.0.0.5:8080', 'http://10.0.0.5:8080'],
    ['http://192.168.1.20/openai/v1', 'http://192.168.1.20/openai/v1'],
    ['http://[::1]:8000/v1', 'http://[::1]:8000/v1'],
    ['http://[fd00::1]:8080/v1', 'http://[fd00::1]:8080/v1'],
    ['http://vllm:8000', 'http://vllm:8000'],
    ['http://169.255.0.1/', 'http://169.255.0.1'],
    ['http://metadata.example.com/v1', 'http://metadata.example.com/v1'],
  ];
  for (const [input, url] of accepted) {
    it(`accepts ${JSON.stringify(input)} as ${url}`, () => {
      expect(checkBaseUrl(input)).to.deep.equal({ ok: true, url });
    });
  }

  const refused: Array<[string, RegExp]> = [
    ['', /empty/],
    ['   ', /empty/],
    ['ftp://example.com', /http/],
    ['file:///etc/passwd', /http/],
    ['javascript:alert(1)', /http/],
    ['//example.com/v1', /http/],
    ['api.openai.com/v1', /http/],
    ['http://', /not a valid URL|host/],
    ['http:///v1', /host/],
    ['http://user:pass@example.com/v1', /credentials/],
    ['http://user@example.com/v1', /credentials/],
    ['http://@example.com/v1', /credentials/],
    ['https://example.com/v1?key=abc', /query/],
    ['https://example.com/v1?', /query/],
    ['https://example.com/v1#frag', /fragment/],
    ['https://exa mple.com', /whitespace/],
    ['https://exam\tple.com', /whitespace/],
    ['https:\\\\example.com', /backslash|http/],
    [`https://example.com/${'a'.repeat(2_100)}`, /2048|2,048/],
    // cloud metadata, in every spelling the URL parser folds onto it
    ['http://169.254.169.254/latest/meta-data', /metadata/],
    ['http://169.254.169.254:80/', /metadata/],
    ['http://169.254.0.1/', /metadata/],
    ['http://169.254.255.255/', /metadata/],
    ['http://169.254.169.254./', /metadata/],
    ['http://2852039166/', /metadata/],
    ['http://0xA9FEA9FE/', /metadata/],
    ['http://0xa9.0xfe.0xa9.0xfe/', /metadata/],
    ['http://0251.0376.0251.0376/', /metadata/],
    ['http://169.254.43518/', /metadata/],
    ['http://169.16689662/', /metadata/],
    ['http://１６９.２５４.１６９.２５４/', /metadata/],
    ['http://[::ffff:169.254.169.254]/', /metadata/],
    ['http://[::ffff:a9fe:a9fe]/', /metadata/],
    ['http://[64:ff9b::a9fe:a9fe]/', /metadata/],
    ['http://[fd00:ec2::254]/', /metadata/],
    ['http://[FD00:EC2:0:0:0:0:0:254]:80/latest', /metadata/],
    ['http://100.100.100.200/latest/meta-data', /metadata/],
    ['http://metadata.google.internal/computeMetadata/v1', /metadata/],
    ['http://METADATA.google.internal./', /metadata/],
    ['http://metadata/computeMetadata/v1', /metadata/],
    ['http://metadata./', /metadata/],
    ['http://instance-data/latest', /metadata/],
  ];
  for (const [input, reason] of refused) {
    it(`refuses ${JSON.stringify(input.length > 80 ? `${input.slice(0, 40)}…` : input)}`, () => {
      const result = checkBaseUrl(input);
      expect(result.ok).to.equal(false);
      if (!result.ok) expect(result.reason).to.match(reason);
    });
  }

  it('trims surrounding whitespace, including a pasted newline', () => {
    expect(checkBaseUrl('https://example.com/v1\n')).to.deep.equal({ ok: true, url: 'https://example.com/v1' });
  });
});

describe('isMetadataHost', () => {
  const table: Array<[string, boolean]> = [
    ['169.254.169.254', true],
    ['[fd00:ec2::254]', true],
    ['[fd00:ec2::255]', false],
    ['metadata.google.internal', true],
    ['metadata', true],
    ['api.openai.com', false],
    ['127.0.0.1', false],
    ['[::1]', false],
    ['10.0.0.1', false],
  ];
  for (const [host, expected] of table) {
    it(`${host} → ${expected}`, () => expect(isMetadataHost(host)).to.equal(expected));
  }
});
